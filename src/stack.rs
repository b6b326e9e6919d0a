//! Stacks for the processes nsbox clones with `CLONE_VM`, and the clone that starts one there.
//!
//! A `CLONE_VM` child shares the caller's memory, as `posix_spawn`'s does: the kernel copies no
//! page tables, the caller takes no copy-on-write faults afterwards and the child's exec tears
//! down no copy of the caller (together ~0.2 ms per spawn measured here, growing with the
//! caller's size). The child then needs a stack of its own: a mapping with a `PROT_NONE` guard
//! page below it, so an overflow faults instead of writing into the caller's memory. Stacks are
//! kept in a small pool after use: a warm stack takes no page faults.

use std::ptr::NonNull;
use std::sync::Mutex;

use nix::errno::Errno;

/// Usable size: the steps need a few KiB (getcwd takes 4); generous, the pages are only
/// touched where used.
const SIZE: usize = 256 * 1024;
const GUARD: usize = 4096;
/// Stacks kept for reuse; more concurrent spawns map (and later unmap) their own.
const POOL_MAX: usize = 8;

static POOL: Mutex<Vec<Mapping>> = Mutex::new(Vec::new());

/// One stack mapping (guard page included).
#[derive(Debug)]
struct Mapping(NonNull<u8>);

// SAFETY: a Mapping is an exclusive handle to its pages; nothing else refers to them.
unsafe impl Send for Mapping {}

impl Mapping {
    fn map() -> Result<Mapping, Errno> {
        // SAFETY: a fresh anonymous mapping; no existing memory is affected.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                GUARD + SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(Errno::last());
        }
        let mapping = Mapping(NonNull::new(base.cast()).ok_or(Errno::ENOMEM)?);
        // SAFETY: the first page of the mapping just made.
        if unsafe { libc::mprotect(base, GUARD, libc::PROT_NONE) } != 0 {
            return Err(Errno::last());
        }
        Ok(mapping)
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the whole mapping made in `map`, unmapped once; no stack of it is in use
        // (a `Stack` lives until its process has executed or exited).
        unsafe { libc::munmap(self.0.as_ptr().cast(), GUARD + SIZE) };
    }
}

/// A stack for one cloned process. The owner keeps it until that process has executed or
/// exited; it then goes back to the pool.
#[derive(Debug)]
pub(crate) struct Stack(Option<Mapping>);

impl Stack {
    pub fn new() -> Result<Stack, Errno> {
        let pooled = POOL.lock().ok().and_then(|mut pool| pool.pop());
        Ok(Stack(Some(match pooled {
            Some(mapping) => mapping,
            None => Mapping::map()?,
        })))
    }

    /// The lowest usable address and the size, as `clone_args.stack` and `.stack_size` take
    /// them (the kernel starts the child at the top).
    pub fn range(&self) -> (*mut u8, usize) {
        match &self.0 {
            // SAFETY: GUARD bytes into the mapping, which is GUARD + SIZE long.
            Some(mapping) => (unsafe { mapping.0.as_ptr().add(GUARD) }, SIZE),
            None => (std::ptr::null_mut(), 0),
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let Some(mapping) = self.0.take() else { return };
        if let Ok(mut pool) = POOL.lock()
            && pool.len() < POOL_MAX
        {
            pool.push(mapping);
        }
    }
}

/// `clone3(args)` where the child calls `entry(arg)` on `args.stack` (set by the caller, with
/// `CLONE_VM`) and never returns; the caller gets the child's pid.
///
/// The child starts with the caller's registers on the new stack and must not return into the
/// caller's frames, so the branch that calls `entry` is in the same asm block as the syscall.
///
/// # Safety
/// `args.stack`/`args.stack_size` must describe a stack nothing else uses until the child has
/// executed or exited; everything `entry` reaches through `arg` must stay valid and unmoved as
/// long; `entry` must not touch thread-locals (it runs on the caller's TLS) nor return.
#[cfg(target_arch = "x86_64")]
pub(crate) unsafe fn clone3_on_stack(
    args: &mut libc::clone_args,
    entry: extern "C" fn(*mut libc::c_void) -> !,
    arg: *mut libc::c_void,
) -> Result<libc::pid_t, Errno> {
    let ret: i64;
    // SAFETY: as the caller promises. In the parent the asm is one syscall (rcx and r11
    // clobbered); in the child (rax == 0) rsp is the top of the new stack (16-byte aligned by
    // the kernel's stack + stack_size arithmetic on our page-aligned mapping), where `call`
    // leaves the ABI's entry alignment; `entry` never returns, `ud2` traps if it did.
    unsafe {
        std::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "xor ebp, ebp",
            "mov rdi, r12",
            "call r13",
            "ud2",
            "2:",
            inlateout("rax") libc::SYS_clone3 => ret,
            in("rdi") args as *mut libc::clone_args,
            in("rsi") std::mem::size_of::<libc::clone_args>(),
            in("r12") arg,
            in("r13") entry,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    if ret < 0 {
        Err(Errno::from_raw(-ret as i32))
    } else {
        Ok(ret as libc::pid_t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn permissions_at(addr: usize) -> String {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        maps.lines()
            .find_map(|line| {
                let (range, rest) = line.split_once(' ')?;
                let (lo, hi) = range.split_once('-')?;
                let (lo, hi) = (usize::from_str_radix(lo, 16).ok()?, usize::from_str_radix(hi, 16).ok()?);
                (lo <= addr && addr < hi).then(|| rest.split(' ').next().unwrap_or("").to_string())
            })
            .unwrap_or_default()
    }

    #[test]
    fn stack_has_an_inaccessible_guard_page_below_it() {
        let stack = Stack::new().unwrap();
        let (low, size) = stack.range();
        assert_eq!(size, SIZE);
        assert_eq!(low as usize % 4096, 0, "page aligned, so the top is 16-byte aligned");
        assert_eq!(permissions_at(low as usize), "rw-p");
        assert_eq!(permissions_at(low as usize + size - 1), "rw-p");
        assert_eq!(permissions_at(low as usize - 1), "---p", "guard page");
    }
}
