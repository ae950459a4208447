//! A release build embeds every file of `web/dist` (rust-embed's
//! `include_bytes!`), and rustc then tracks those files, but not a file
//! added to or removed from the folder: watching the folder makes cargo
//! rerun this script, and so re-embed, whenever anything in it changes.
//! A debug build reads the folder at run time, so nothing needs watching
//! there and a web change rebuilds no Rust at all.
fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_CFG_DEBUG_ASSERTIONS").is_none() {
        println!("cargo::rerun-if-changed=../../web/dist");
    }
}
