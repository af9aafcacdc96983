//! Embeds the game templates (`templates/FILES` lists them) into the binary
//! for `gamestore-dev new`.

use std::fmt::Write;
use std::path::PathBuf;

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("../../templates");
    let list = root.join("FILES");
    println!("cargo:rerun-if-changed={}", list.display());
    let files = std::fs::read_to_string(&list).expect("templates/FILES");
    let mut out = String::from(
        "/// Every template file: (path under templates/, contents).\npub const TEMPLATE_FILES: &[(&str, &str)] = &[\n",
    );
    for path in files.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let full =
            root.join(path).canonicalize().unwrap_or_else(|e| panic!("templates/{path}: {e}"));
        println!("cargo:rerun-if-changed={}", full.display());
        writeln!(out, "    ({path:?}, include_str!({:?})),", full.display().to_string()).unwrap();
    }
    out.push_str("];\n");
    let dest = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("templates.rs");
    std::fs::write(dest, out).unwrap();
}
