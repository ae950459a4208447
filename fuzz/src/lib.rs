//! What the fuzz targets share: the server's pure decoders, compiled from
//! the server's own source files, and a way to run them on a stack the size
//! of the server's.
//!
//! The server crate as a dependency would bring sqlx, axum, lettre and the
//! rest into an instrumented build that takes many minutes; these modules
//! need only async-graphql and serde_json. Each file named here promises
//! (in its doc comment) to use nothing of the server crate, and this crate
//! fails to build if one does, so the fuzzers always test the code the
//! server runs, never a copy.

/// `crates/server/src/graphql/size.rs`: the checks every GraphQL document
/// passes before async-graphql validates it.
#[cfg(not(test))] // Its tests need the server crate.
#[path = "../../crates/server/src/graphql/size.rs"]
pub mod size;

/// `crates/server/src/ws/protocol.rs`: the client messages of
/// graphql-transport-ws.
#[cfg(not(test))]
#[path = "../../crates/server/src/ws/protocol.rs"]
pub mod protocol;

/// The stack of a tokio worker thread, where the server decodes requests
/// and socket messages (tokio's default, which the server keeps).
pub const SERVER_STACK: usize = 2 << 20;

/// Runs `f` on a fresh thread whose stack is half the server's, so that
/// input nested deep enough to overflow a server thread crashes the fuzzer
/// (the main thread's 8 MiB would hide it), with room to spare for the
/// frames a server thread already has below the decoder. A panic in `f`
/// is a panic here.
pub fn on_server_stack<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    std::thread::scope(|scope| {
        let thread = std::thread::Builder::new()
            .stack_size(SERVER_STACK / 2)
            .spawn_scoped(scope, f)
            .expect("spawn a fuzzing thread");
        match thread.join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}
