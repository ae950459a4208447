//! A release build embeds every file of `web/dist` (rust-embed's
//! `include_bytes!`), and rustc then tracks those files, but not a file
//! added to or removed from the folder: watching the folder makes cargo
//! rerun this script, and so re-embed, whenever anything in it changes.
//! A debug build reads the folder at run time, so nothing needs watching
//! there and a web change rebuilds no Rust at all. But rust-embed decides
//! at compile time whether the folder exists (`allow_missing`): a debug
//! build compiled before the first `make web` would never serve the app.
//! So a debug build makes the (empty, git-ignored) folder when it is
//! missing, and serves whatever Vite writes there later.
fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_CFG_DEBUG_ASSERTIONS").is_none() {
        println!("cargo::rerun-if-changed=../../web/dist");
    } else if let Err(e) = std::fs::create_dir_all("../../web/dist") {
        println!(
            "cargo::warning=cannot create web/dist ({e}): a debug build made now will not serve the web app"
        );
    }
}
