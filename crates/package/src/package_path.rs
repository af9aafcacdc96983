//! The names a file or folder inside a game package may have.
//!
//! One rule set serves both directions: [`pack_dir`](crate::pack_dir) refuses to
//! write a name that [`extract`](crate::extract) would refuse to read, and
//! [`FileList`](crate::FileList) paths follow the same form. A package path is
//! relative, uses `/` as separator and can never point outside the folder it is
//! extracted into.

/// Deepest folder nesting a package may use (`a/b/c` has depth 3).
pub const MAX_DEPTH: usize = 32;

/// Longest package path, in bytes; well under every file system's limit.
pub const MAX_PATH_BYTES: usize = 1024;

/// Checks one relative package path such as `bin/server` (no trailing slash).
///
/// Returns why the path is refused: `..` or `.` components, an absolute path, a
/// Windows drive prefix, a backslash, a NUL or other control character, an
/// empty component (`a//b`), or nesting deeper than [`MAX_DEPTH`].
pub fn check_package_path(path: &str) -> Result<(), &'static str> {
    if path.is_empty() {
        return Err("empty name");
    }
    if path.len() > MAX_PATH_BYTES {
        return Err("name longer than 1024 bytes");
    }
    if path.starts_with('/') {
        return Err("absolute path");
    }
    if path.contains('\\') {
        return Err("backslash in name");
    }
    if path.contains('\0') {
        return Err("NUL byte in name");
    }
    if path.chars().any(char::is_control) {
        return Err("control character in name");
    }
    let bytes = path.as_bytes();
    if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        return Err("drive prefix in name");
    }
    let mut depth = 0;
    for component in path.split('/') {
        match component {
            "" => return Err("empty path component"),
            "." | ".." => return Err("`.` or `..` path component"),
            _ => depth += 1,
        }
    }
    if depth > MAX_DEPTH {
        return Err("nested deeper than 32 folders");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_package_path;

    #[test]
    fn accepts_plain_relative_paths() {
        for ok in ["config.json", "bin/server", "assets/img/a b.png", "déjà/vu", "a..b"] {
            assert_eq!(check_package_path(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn refuses_escaping_and_odd_paths() {
        let deep = vec!["d"; 33].join("/");
        for bad in [
            "",
            "../x",
            "a/../../x",
            "a/..",
            "./x",
            "/etc/passwd",
            "C:/x",
            "c:x",
            "a\\b",
            "..\\x",
            "a\0b",
            "a//b",
            "a\nb",
            deep.as_str(),
        ] {
            assert!(check_package_path(bad).is_err(), "{bad:?} accepted");
        }
    }
}
