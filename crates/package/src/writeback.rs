//! Starting a file's writing back to disk early.

use std::fs::File;
use std::os::fd::AsRawFd;

/// Asks the kernel to start writing `len` bytes of `file` from `offset` to
/// the disk now, without waiting (`sync_file_range(SYNC_FILE_RANGE_WRITE)`;
/// `len` 0 means to the end of the file). Durability still comes from a
/// later sync; this only moves the disk's work off that sync's critical
/// path, so it is advisory: errors are ignored (the sync reports real ones).
pub fn start_writeback(file: &File, offset: u64, len: u64) {
    // SAFETY: a syscall on an open descriptor; no memory is passed.
    unsafe {
        libc::sync_file_range(
            file.as_raw_fd(),
            offset as libc::off64_t,
            len as libc::off64_t,
            libc::SYNC_FILE_RANGE_WRITE,
        );
    }
}
