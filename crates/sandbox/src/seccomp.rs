//! The seccomp filter every confined game program runs under.
//!
//! A deny list (programs in any language must keep working): the calls
//! that change mounts, namespaces, the kernel or other processes' memory,
//! that load modules or BPF, and terminal input injection (TIOCSTI). They
//! fail with EPERM (ENOSYS for `clone3` and io_uring, so libraries fall back
//! to calls the filter can inspect). A second, tiny filter refuses the x32
//! syscall numbers, which would otherwise bypass a list of x86-64 numbers.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule,
};

/// Calls refused outright.
fn denied() -> Vec<libc::c_long> {
    let mut list = vec![
        libc::SYS_mount,
        libc::SYS_umount2,
        libc::SYS_pivot_root,
        libc::SYS_chroot,
        libc::SYS_fsopen,
        libc::SYS_fsconfig,
        libc::SYS_fsmount,
        libc::SYS_fspick,
        libc::SYS_move_mount,
        libc::SYS_open_tree,
        libc::SYS_mount_setattr,
        libc::SYS_unshare,
        libc::SYS_setns,
        libc::SYS_ptrace,
        libc::SYS_process_vm_readv,
        libc::SYS_process_vm_writev,
        libc::SYS_kcmp,
        libc::SYS_pidfd_getfd,
        libc::SYS_kexec_load,
        libc::SYS_kexec_file_load,
        libc::SYS_init_module,
        libc::SYS_finit_module,
        libc::SYS_delete_module,
        libc::SYS_bpf,
        libc::SYS_perf_event_open,
        libc::SYS_userfaultfd,
        libc::SYS_keyctl,
        libc::SYS_add_key,
        libc::SYS_request_key,
        libc::SYS_open_by_handle_at,
        libc::SYS_name_to_handle_at,
        libc::SYS_swapon,
        libc::SYS_swapoff,
        libc::SYS_reboot,
        libc::SYS_syslog,
        libc::SYS_acct,
        libc::SYS_quotactl,
        libc::SYS_settimeofday,
        libc::SYS_clock_settime,
        libc::SYS_clock_adjtime,
        libc::SYS_adjtimex,
        libc::SYS_sethostname,
        libc::SYS_setdomainname,
        libc::SYS_vhangup,
    ];
    #[cfg(target_arch = "x86_64")]
    list.extend([libc::SYS_iopl, libc::SYS_ioperm, libc::SYS_uselib, libc::SYS_lookup_dcookie]);
    list
}

/// Calls refused with ENOSYS ("not here"), so callers fall back.
fn not_implemented() -> Vec<libc::c_long> {
    vec![
        libc::SYS_clone3,
        libc::SYS_io_uring_setup,
        libc::SYS_io_uring_enter,
        libc::SYS_io_uring_register,
    ]
}

fn cond(arg: u8, op: SeccompCmpOp, value: u64) -> SeccompCondition {
    SeccompCondition::new(arg, SeccompCmpArgLen::Qword, op, value).expect("valid condition")
}

fn rule(conditions: Vec<SeccompCondition>) -> SeccompRule {
    SeccompRule::new(conditions).expect("non-empty rule")
}

fn arch() -> seccompiler::TargetArch {
    #[cfg(target_arch = "x86_64")]
    return seccompiler::TargetArch::x86_64;
    #[cfg(target_arch = "aarch64")]
    return seccompiler::TargetArch::aarch64;
}

/// Whether the filters let the program open UDP sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Udp {
    Allowed,
    Denied,
}

/// Builds the EPERM filter: whole calls, plus argument checks on `clone`
/// (namespace flags), `ioctl` (TIOCSTI, TIOCLINUX) and `socket`.
fn eperm_filter(udp: Udp) -> Result<BpfProgram, String> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for call in denied() {
        rules.insert(call, Vec::new());
    }
    let namespaces = [
        libc::CLONE_NEWNS,
        libc::CLONE_NEWUSER,
        libc::CLONE_NEWPID,
        libc::CLONE_NEWNET,
        libc::CLONE_NEWUTS,
        libc::CLONE_NEWIPC,
        libc::CLONE_NEWCGROUP,
    ];
    // x86-64 and aarch64 both pass clone's flags first.
    rules.insert(
        libc::SYS_clone,
        namespaces
            .iter()
            .map(|&f| rule(vec![cond(0, SeccompCmpOp::MaskedEq(f as u64), f as u64)]))
            .collect(),
    );
    rules.insert(
        libc::SYS_ioctl,
        [libc::TIOCSTI, libc::TIOCLINUX]
            .iter()
            .map(|&r| rule(vec![cond(1, SeccompCmpOp::MaskedEq(0xffff_ffff), r)]))
            .collect(),
    );
    let mut socket = Vec::new();
    // Sockets no game needs: kernel crypto, VM and key management, Bluetooth.
    for domain in [libc::AF_ALG, libc::AF_VSOCK, libc::AF_KEY, libc::AF_BLUETOOTH, libc::AF_PACKET]
    {
        socket.push(rule(vec![cond(0, SeccompCmpOp::Eq, domain as u64)]));
    }
    if udp == Udp::Denied {
        for domain in [libc::AF_INET, libc::AF_INET6] {
            for kind in [libc::SOCK_DGRAM, libc::SOCK_RAW] {
                socket.push(rule(vec![
                    cond(0, SeccompCmpOp::Eq, domain as u64),
                    cond(1, SeccompCmpOp::MaskedEq(0xf), kind as u64),
                ]));
            }
        }
    }
    rules.insert(libc::SYS_socket, socket);
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch(),
    )
    .map_err(|e| e.to_string())?;
    filter.try_into().map_err(|e: seccompiler::BackendError| e.to_string())
}

fn enosys_filter() -> Result<BpfProgram, String> {
    let rules = not_implemented().into_iter().map(|c| (c, Vec::new())).collect();
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch(),
    )
    .map_err(|e| e.to_string())?;
    filter.try_into().map_err(|e: seccompiler::BackendError| e.to_string())
}

/// Refuses x32 system calls (numbers with bit 30 set) on x86-64.
#[cfg(target_arch = "x86_64")]
fn x32_filter() -> BpfProgram {
    use seccompiler::sock_filter;
    const BPF_LD_W_ABS: u16 = 0x20;
    const BPF_JMP_JSET_K: u16 = 0x45;
    const BPF_RET_K: u16 = 0x06;
    const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
    const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
    vec![
        // seccomp_data.nr is at offset 0.
        sock_filter { code: BPF_LD_W_ABS, jt: 0, jf: 0, k: 0 },
        sock_filter { code: BPF_JMP_JSET_K, jt: 0, jf: 1, k: 0x4000_0000 },
        sock_filter { code: BPF_RET_K, jt: 0, jf: 0, k: SECCOMP_RET_ERRNO | libc::ENOSYS as u32 },
        sock_filter { code: BPF_RET_K, jt: 0, jf: 0, k: SECCOMP_RET_ALLOW },
    ]
}

/// Installs the filters on this process (and everything it starts).
/// Needs `no_new_privs` set first.
pub(crate) fn install(udp: Udp) -> Result<(), String> {
    #[cfg(target_arch = "x86_64")]
    seccompiler::apply_filter(&x32_filter()).map_err(|e| e.to_string())?;
    seccompiler::apply_filter(&enosys_filter()?).map_err(|e| e.to_string())?;
    seccompiler::apply_filter(&eperm_filter(udp)?).map_err(|e| e.to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_filters_compile_for_this_machine() {
        super::eperm_filter(super::Udp::Denied).unwrap();
        super::eperm_filter(super::Udp::Allowed).unwrap();
        super::enosys_filter().unwrap();
    }
}
