//! The device cgroup: which device nodes a container may use.
//!
//! A device node is a file that names a driver by two numbers, major and
//! minor: `/dev/null` is character device 1:3, a first virtio disk is
//! often block device 254:0. Anyone with `CAP_MKNOD` can make such a node
//! anywhere (mknod(2)), and opening it reaches the driver, whatever
//! directory the node is in. So a root inside a container, who keeps
//! `CAP_MKNOD`, could `mknod /tmp/disk b 254 0` and read or write the
//! host's disk: no namespace stops that, because major and minor numbers
//! are not namespaced. The device cgroup does: the kernel asks it before
//! every open(2) and mknod(2) of a device node by a process in the cgroup,
//! and refuses (`EPERM`) what it does not allow.
//!
//! The rules ([`DeviceRule`]) are an allow list: everything else is
//! refused. [`DEFAULT_ALLOWED`] is docker's list: the harmless character
//! devices every program expects (`/dev/null`, `/dev/zero`, the
//! terminals...), and mknod of any node but no use of it.
//!
//! The two cgroup versions enforce the same rules in different ways:
//!
//! - cgroup v1 has a `devices` controller, configured by writing rule
//!   lines into `devices.deny` and `devices.allow` ([`v1_writes`]).
//! - cgroup v2 has no devices controller. Instead, a small eBPF program of
//!   type `BPF_PROG_TYPE_CGROUP_DEVICE` is attached to the cgroup; the
//!   kernel runs it on every device access and it returns 1 (allow) or 0
//!   (deny) (Documentation/admin-guide/cgroup-v2.rst, "Device
//!   controller"). [`program`] compiles the rules into that program;
//!   [`attach`] loads it with bpf(2) and attaches it.

use crate::narrate;
use nix::errno::Errno;
use std::fmt;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// What kind of device node a rule is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    /// A character device (`c`): terminals, `/dev/null`, `/dev/random`...
    Char,
    /// A block device (`b`): disks and their partitions.
    Block,
    /// Both kinds (`a`).
    All,
}

impl fmt::Display for DeviceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DeviceKind::Char => "c",
            DeviceKind::Block => "b",
            DeviceKind::All => "a",
        })
    }
}

/// What a process may do with a device node: a set of read, write and
/// mknod (`r`, `w`, `m`).
///
/// The bits are the kernel's own `BPF_DEVCG_ACC_*` values (mknod 1, read
/// 2, write 4), so the set goes into the eBPF program as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access(u8);

impl Access {
    /// Nothing.
    pub const NONE: Access = Access(0);
    /// mknod(2) of a node with these numbers (`m`); `BPF_DEVCG_ACC_MKNOD`.
    pub const MKNOD: Access = Access(1);
    /// Opening the node for reading (`r`); `BPF_DEVCG_ACC_READ`.
    pub const READ: Access = Access(2);
    /// Opening the node for writing (`w`); `BPF_DEVCG_ACC_WRITE`.
    pub const WRITE: Access = Access(4);
    /// All three (`rwm`).
    pub const RWM: Access = Access(7);

    /// The set as the kernel's `BPF_DEVCG_ACC_*` bits.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Both sets together.
    pub const fn union(self, other: Access) -> Access {
        Access(self.0 | other.0)
    }

    /// True when every access in `other` is in this set.
    pub const fn contains(self, other: Access) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for Access {
    type Output = Access;
    fn bitor(self, other: Access) -> Access {
        self.union(other)
    }
}

impl fmt::Display for Access {
    /// In the v1 order, `rwm`: `m` alone for mknod only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (bit, letter) in [
            (Access::READ, 'r'),
            (Access::WRITE, 'w'),
            (Access::MKNOD, 'm'),
        ] {
            if self.contains(bit) {
                write!(f, "{letter}")?;
            }
        }
        Ok(())
    }
}

/// One allow rule: processes in the cgroup may do `access` on nodes of
/// this kind and these numbers. `None` for major or minor means any
/// (`*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceRule {
    /// Character, block, or both.
    pub kind: DeviceKind,
    /// The major number; `None` for any.
    pub major: Option<u32>,
    /// The minor number; `None` for any.
    pub minor: Option<u32>,
    /// What is allowed.
    pub access: Access,
}

impl fmt::Display for DeviceRule {
    /// The v1 syntax (devices.rst): `c 1:3 rwm`, `c *:* m`, `c 136:* rwm`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let number = |n: Option<u32>| n.map_or("*".to_string(), |n| n.to_string());
        write!(
            f,
            "{} {}:{} {}",
            self.kind,
            number(self.major),
            number(self.minor),
            self.access
        )
    }
}

/// A character-device rule, for the list below.
const fn char_dev(major: Option<u32>, minor: Option<u32>, access: Access) -> DeviceRule {
    DeviceRule {
        kind: DeviceKind::Char,
        major,
        minor,
        access,
    }
}

/// Docker's default allow list (runc's `AllowedDevices`): what a container
/// may use when nothing else is asked for. Everything not listed is
/// refused: no disk, no `/dev/mem`, no `/dev/kmsg`, no `/dev/fuse`.
// ANCHOR: default_allowed
pub const DEFAULT_ALLOWED: &[DeviceRule] = &[
    // c *:* m: mknod of any character device, so that an image's own
    // /dev can be made; making a node is harmless, using it is not.
    char_dev(None, None, Access::MKNOD),
    // b *:* m: the same for block devices. The node can be made, but
    // opening it is refused: that is the disk example of the module doc.
    DeviceRule {
        kind: DeviceKind::Block,
        major: None,
        minor: None,
        access: Access::MKNOD,
    },
    // c 1:3 rwm: /dev/null.
    char_dev(Some(1), Some(3), Access::RWM),
    // c 1:5 rwm: /dev/zero.
    char_dev(Some(1), Some(5), Access::RWM),
    // c 1:7 rwm: /dev/full.
    char_dev(Some(1), Some(7), Access::RWM),
    // c 1:8 rwm: /dev/random.
    char_dev(Some(1), Some(8), Access::RWM),
    // c 1:9 rwm: /dev/urandom.
    char_dev(Some(1), Some(9), Access::RWM),
    // c 5:0 rwm: /dev/tty, the process's controlling terminal.
    char_dev(Some(5), Some(0), Access::RWM),
    // c 5:1 rwm: /dev/console.
    char_dev(Some(5), Some(1), Access::RWM),
    // c 5:2 rwm: /dev/ptmx, which opens a new pseudo-terminal.
    char_dev(Some(5), Some(2), Access::RWM),
    // c 136:* rwm: /dev/pts/N, the pseudo-terminals' other ends.
    char_dev(Some(136), None, Access::RWM),
    // c 10:200 rwm: /dev/net/tun, for VPNs inside the container.
    char_dev(Some(10), Some(200), Access::RWM),
];
// ANCHOR_END: default_allowed

// ---------------------------------------------------------------------------
// cgroup v1: the devices controller's files.
// ---------------------------------------------------------------------------

/// The writes that give the v1 devices cgroup `dir` exactly `rules`, in
/// order: `devices.deny` ← `a`, then `devices.allow` ← one rule line each.
///
/// The caller writes them, one write(2) per line: each of these files
/// takes one rule per write.
// ANCHOR: v1_writes
pub fn v1_writes(dir: &Path, rules: &[DeviceRule]) -> Vec<(PathBuf, String)> {
    // Deny-all comes first. A new v1 device cgroup starts as a copy of its
    // parent's, which at the root is `a *:* rwm`: everything allowed.
    // Writing `a` to devices.deny switches the cgroup to "deny by default"
    // and empties its exception list (Documentation/admin-guide/cgroup-v1/
    // devices.rst: "echo a > devices.deny will remove the default
    // 'a *:* rwm' entry"). Written after the allows, it would throw them
    // away and leave nothing allowed; not written at all, each allow would
    // add to an "allow everything" that needs no additions.
    let mut writes = vec![(dir.join("devices.deny"), "a".to_string())];
    writes.extend(
        rules
            .iter()
            .map(|rule| (dir.join("devices.allow"), rule.to_string())),
    );
    writes
}
// ANCHOR_END: v1_writes

// ---------------------------------------------------------------------------
// cgroup v2: an eBPF program.
// ---------------------------------------------------------------------------

/// One eBPF instruction, laid out as the kernel's `struct bpf_insn`
/// (include/uapi/linux/bpf.h): an opcode, two 4-bit register numbers, a
/// 16-bit offset and a 32-bit immediate. 8 bytes; the kernel takes an
/// array of them.
///
/// Why not a crate: the one Rust container runtimes use, `rbpf` (youki
/// builds its device program with `rbpf::insn_builder`), is a whole eBPF
/// virtual machine, assembler and JIT, with its dependencies; this module
/// needs seven opcodes, which take fewer lines to encode than to import,
/// and the encoding is part of what the lesson shows.
///
/// `Display` prints the instruction the way the kernel's verifier log and
/// `bpftool prog dump xlated` do: `r2 = *(u32 *)(r1 +0)`, `if w4 != 0x1
/// goto pc+3`, `exit`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    code: u8,
    /// `dst_reg:4, src_reg:4`: C bit-fields, so the order in the byte
    /// follows the machine's byte order.
    regs: u8,
    off: i16,
    imm: i32,
}

// The opcodes used, each built from the kernel's parts: instruction class |
// operation (or memory mode and size) | operand source, as in
// include/uapi/linux/bpf_common.h and
// Documentation/bpf/standardization/instruction-set.rst.
const BPF_LDX: u8 = 0x01; // class: load into a register
const BPF_ALU: u8 = 0x04; // class: 32-bit arithmetic
const BPF_JMP: u8 = 0x05; // class: jumps (and exit)
const BPF_JMP32: u8 = 0x06; // class: jumps comparing 32 bits
const BPF_ALU64: u8 = 0x07; // class: 64-bit arithmetic
const BPF_MEM: u8 = 0x60; // mode: from memory at register + offset
const BPF_W: u8 = 0x00; // size: a 32-bit word
const BPF_K: u8 = 0x00; // source: the immediate
const BPF_X: u8 = 0x08; // source: the src register
const BPF_AND: u8 = 0x50;
const BPF_RSH: u8 = 0x70;
const BPF_MOV: u8 = 0xb0;
const BPF_JNE: u8 = 0x50;
const BPF_EXIT: u8 = 0x90;

/// `r[dst] = *(u32 *)(r[src] + off)`: load 32 bits.
const LDX_MEM_W: u8 = BPF_LDX | BPF_MEM | BPF_W;
/// `w[dst] &= imm` (`w` is the low 32 bits of a register; a 32-bit
/// operation zeroes the upper 32).
const ALU32_AND_K: u8 = BPF_ALU | BPF_AND | BPF_K;
/// `w[dst] >>= imm`.
const ALU32_RSH_K: u8 = BPF_ALU | BPF_RSH | BPF_K;
/// `w[dst] = w[src]`.
const ALU32_MOV_X: u8 = BPF_ALU | BPF_MOV | BPF_X;
/// `r[dst] = imm`.
const ALU64_MOV_K: u8 = BPF_ALU64 | BPF_MOV | BPF_K;
/// `if w[dst] != imm goto pc+off`: skip `off` instructions when they
/// differ. 32-bit compares (Linux 5.1) because the context's fields are
/// `__u32`: every major and minor compares exactly, with no sign extension
/// of `imm` to think about.
const JMP32_JNE_K: u8 = BPF_JMP32 | BPF_JNE | BPF_K;
/// `exit`: return `r0`.
const JMP_EXIT: u8 = BPF_JMP | BPF_EXIT;

impl Insn {
    fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
        #[cfg(target_endian = "little")]
        let regs = (src << 4) | dst;
        #[cfg(target_endian = "big")]
        let regs = (dst << 4) | src;
        Insn {
            code,
            regs,
            off,
            imm,
        }
    }

    fn dst(&self) -> u8 {
        if cfg!(target_endian = "little") {
            self.regs & 0xf
        } else {
            self.regs >> 4
        }
    }

    fn src(&self) -> u8 {
        if cfg!(target_endian = "little") {
            self.regs >> 4
        } else {
            self.regs & 0xf
        }
    }

    /// `dst = *(u32 *)(src + off)`
    fn load_u32(dst: u8, src: u8, off: i16) -> Insn {
        Insn::new(LDX_MEM_W, dst, src, off, 0)
    }

    /// `wdst &= imm`
    fn and32(dst: u8, imm: u32) -> Insn {
        Insn::new(ALU32_AND_K, dst, 0, 0, imm as i32)
    }

    /// `wdst >>= imm`
    fn rsh32(dst: u8, imm: u32) -> Insn {
        Insn::new(ALU32_RSH_K, dst, 0, 0, imm as i32)
    }

    /// `wdst = wsrc`
    fn mov32(dst: u8, src: u8) -> Insn {
        Insn::new(ALU32_MOV_X, dst, src, 0, 0)
    }

    /// `rdst = imm`
    fn mov_imm(dst: u8, imm: i32) -> Insn {
        Insn::new(ALU64_MOV_K, dst, 0, 0, imm)
    }

    /// `if wdst != imm goto pc+off`; `off` is filled in by [`rule_block`].
    fn jne32(dst: u8, imm: u32) -> Insn {
        Insn::new(JMP32_JNE_K, dst, 0, 0, imm as i32)
    }

    /// `exit`: the program returns `r0`.
    fn exit() -> Insn {
        Insn::new(JMP_EXIT, 0, 0, 0, 0)
    }

    fn is_jump(&self) -> bool {
        self.code == JMP32_JNE_K
    }
}

impl fmt::Display for Insn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (dst, src, off, imm) = (self.dst(), self.src(), self.off, self.imm);
        match self.code {
            LDX_MEM_W => write!(f, "r{dst} = *(u32 *)(r{src} {off:+})"),
            ALU32_AND_K => write!(f, "w{dst} &= {:#x}", imm as u32),
            ALU32_RSH_K => write!(f, "w{dst} >>= {imm}"),
            ALU32_MOV_X => write!(f, "w{dst} = w{src}"),
            ALU64_MOV_K => write!(f, "r{dst} = {imm}"),
            JMP32_JNE_K => write!(f, "if w{dst} != {:#x} goto pc{off:+}", imm as u32),
            JMP_EXIT => write!(f, "exit"),
            code => write!(f, "(opcode {code:#04x})"),
        }
    }
}

// The registers. The kernel calls the program with r1 pointing at the
// context; r0 is what it returns.
const R0: u8 = 0;
const R1: u8 = 1;
/// The device type: `BPF_DEVCG_DEV_BLOCK` (1) or `BPF_DEVCG_DEV_CHAR` (2).
const R_TYPE: u8 = 2;
/// The access asked for: `BPF_DEVCG_ACC_*` bits.
const R_ACCESS: u8 = 3;
const R_MAJOR: u8 = 4;
const R_MINOR: u8 = 5;

/// `BPF_DEVCG_DEV_BLOCK`, the type of a block device in the context.
const DEV_BLOCK: u32 = 1;
/// `BPF_DEVCG_DEV_CHAR`, the type of a character device in the context.
const DEV_CHAR: u32 = 2;

/// The eBPF program that allows exactly `rules`: the v2 device cgroup.
///
/// The kernel calls it with r1 pointing at the request,
/// `struct bpf_cgroup_dev_ctx { __u32 access_type; __u32 major; __u32 minor; }`,
/// where `access_type` is `(access << 16) | type`. It returns 1 to allow,
/// 0 to refuse (the process then gets `EPERM`).
///
/// A rule matches when the kind matches (`a` matches both), the major and
/// minor match or are `*`, and every access asked for is in the rule's.
/// The program tries the rules in order: one block of compares per rule,
/// each compare jumping to the next rule's block on a mismatch, and
/// "return 1" at the block's end; after the last rule, "return 0".
///
/// The verifier refuses unreachable instructions ("unreachable insn"), so
/// a rule that matches everything (`a *:* rwm`) ends the program: nothing
/// after it could run.
// ANCHOR: program
pub fn program(rules: &[DeviceRule]) -> Vec<Insn> {
    // The prologue: the request's four values into four registers, read
    // from the context once. The verifier allows 32-bit reads of its
    // fields (and no writes).
    let mut insns = vec![
        // r2 = access_type, then keep its low 16 bits: the device type.
        Insn::load_u32(R_TYPE, R1, 0),
        Insn::and32(R_TYPE, 0xffff),
        // r3 = access_type again, shifted down: the access bits.
        Insn::load_u32(R_ACCESS, R1, 0),
        Insn::rsh32(R_ACCESS, 16),
        // r4 = major, r5 = minor.
        Insn::load_u32(R_MAJOR, R1, 4),
        Insn::load_u32(R_MINOR, R1, 8),
    ];
    for rule in rules {
        let block = rule_block(rule);
        let unconditional = !block.iter().any(Insn::is_jump);
        insns.extend(block);
        if unconditional {
            // This rule allows everything: the rest would be unreachable.
            return insns;
        }
    }
    // No rule matched: return 0, refused.
    insns.push(Insn::mov_imm(R0, 0));
    insns.push(Insn::exit());
    insns
}
// ANCHOR_END: program

/// The block of one rule: its compares, then "return 1". Each compare
/// jumps past the block's end, to the next rule, when the request does not
/// match.
// ANCHOR: rule_block
fn rule_block(rule: &DeviceRule) -> Vec<Insn> {
    let mut block = Vec::new();
    // The kind: a rule for `c` skips block devices and the other way
    // round; an `a` rule needs no compare.
    match rule.kind {
        DeviceKind::Char => block.push(Insn::jne32(R_TYPE, DEV_CHAR)),
        DeviceKind::Block => block.push(Insn::jne32(R_TYPE, DEV_BLOCK)),
        DeviceKind::All => {}
    }
    // The access: the request's bits outside the rule's must be none.
    // r1 (the context pointer, no longer needed) is the scratch register:
    // r1 = access & ~allowed; a non-zero r1 asks for something more. A
    // rule allowing rwm allows every request and needs no compare.
    if rule.access != Access::RWM {
        block.push(Insn::mov32(R1, R_ACCESS));
        block.push(Insn::and32(R1, !u32::from(rule.access.bits())));
        block.push(Insn::jne32(R1, 0));
    }
    // The numbers, unless `*`.
    if let Some(major) = rule.major {
        block.push(Insn::jne32(R_MAJOR, major));
    }
    if let Some(minor) = rule.minor {
        block.push(Insn::jne32(R_MINOR, minor));
    }
    // Everything matched: return 1, allowed.
    block.push(Insn::mov_imm(R0, 1));
    block.push(Insn::exit());
    // Now that the block's length is known: each jump skips to the
    // instruction after the block. A jump's offset counts from the
    // instruction after the jump.
    let len = block.len();
    for (i, insn) in block.iter_mut().enumerate() {
        if insn.is_jump() {
            insn.off = (len - i - 1) as i16;
        }
    }
    block
}
// ANCHOR_END: rule_block

// The bpf(2) interface: include/uapi/linux/bpf.h.
/// `enum bpf_cmd`: load a program.
const BPF_PROG_LOAD: libc::c_long = 5;
/// `enum bpf_cmd`: attach a program to a cgroup.
const BPF_PROG_ATTACH: libc::c_long = 8;
/// `enum bpf_prog_type`: a device cgroup program.
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
/// `enum bpf_attach_type`: run on device access in the cgroup.
const BPF_CGROUP_DEVICE: u32 = 6;
/// Attach flag: programs attached to the cgroup's ancestors (a systemd
/// unit's, an outer container runtime's) keep running too, and every one
/// must allow. Without it, no cgroup below could attach a program of its
/// own: nested containers would be impossible.
const BPF_F_ALLOW_MULTI: u32 = 2;

/// The part of `union bpf_attr` that `BPF_PROG_LOAD` reads, up to
/// `expected_attach_type`. The kernel takes the size given and treats the
/// fields after it as zero; within it, every field this module does not
/// set must be zero too (the kernel refuses unknown non-zero fields), so
/// the struct is built from `Default` and has no padding.
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// The part of `union bpf_attr` that `BPF_PROG_ATTACH` reads.
#[repr(C)]
#[derive(Default)]
struct ProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
}

// No padding anywhere (that would be bytes not zeroed by `Default`).
const _: () = assert!(std::mem::size_of::<ProgLoadAttr>() == 72);
const _: () = assert!(std::mem::size_of::<ProgAttachAttr>() == 16);
const _: () = assert!(std::mem::size_of::<Insn>() == 8);

/// bpf(2): `cmd` with `attr`, as libc has no wrapper for it.
fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> Result<libc::c_long, Errno> {
    // SAFETY: `attr` is a #[repr(C)] prefix of `union bpf_attr` for `cmd`,
    // valid for reads and writes of its size, which is passed along; the
    // pointers inside it point at buffers that outlive the call.
    let ret =
        unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut T, std::mem::size_of::<T>()) };
    Errno::result(ret)
}

/// The program's name, as `bpftool prog` lists it (at most 15 bytes).
const PROG_NAME: &[u8] = b"nslab_devices";

/// The license the program declares to the kernel. A program must be
/// GPL-compatible only to call the helpers the kernel reserves for GPL
/// code (such as `bpf_trace_printk`); this one calls no helper at all, so
/// any string would load (runc declares "Apache"). "GPL" because the
/// program is a handful of instructions derived from the kernel's own
/// interface, and it keeps every helper open to a later version.
const LICENSE: &[u8] = b"GPL\0";

/// How much of the verifier's log is kept: plenty for a program of a few
/// hundred instructions.
const LOG_SIZE: usize = 64 * 1024;

/// Loads [`program`]`(rules)` into the kernel and attaches it to the
/// cgroup2 directory `cgroup_dir`: from then on, every process in that
/// cgroup (and below) may use only the devices `rules` allow.
///
/// The program's file descriptor is closed before returning: the
/// attachment holds its own reference, and the program stays until it is
/// detached or the cgroup is removed.
// ANCHOR: attach
pub fn attach(cgroup_dir: &Path, rules: &[DeviceRule]) -> Result<(), DevicesError> {
    let insns = program(rules);
    let mut log = vec![0u8; LOG_SIZE];
    let mut name = [0u8; 16];
    name[..PROG_NAME.len()].copy_from_slice(PROG_NAME);
    let mut load = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: LICENSE.as_ptr() as u64,
        // Level 1: the verifier explains a refusal in this buffer.
        log_level: 1,
        log_size: LOG_SIZE as u32,
        log_buf: log.as_mut_ptr() as u64,
        prog_name: name,
        expected_attach_type: BPF_CGROUP_DEVICE,
        ..Default::default()
    };
    narrate::syscall(format!(
        "bpf(BPF_PROG_LOAD, BPF_PROG_TYPE_CGROUP_DEVICE, {} instructions, license \"GPL\")   # the verifier checks it first",
        insns.len()
    ));
    let prog = match bpf(BPF_PROG_LOAD, &mut load) {
        // SAFETY: on success bpf(BPF_PROG_LOAD) returns a new descriptor,
        // owned by nobody else.
        Ok(fd) => unsafe { OwnedFd::from_raw_fd(fd as i32) },
        Err(source) => {
            return Err(DevicesError::LoadProgram {
                log: log_text(&log),
                source,
            })
        }
    };
    narrate::returned(format!(
        "bpf(BPF_PROG_LOAD) = {}   # {}",
        prog.as_raw_fd(),
        verifier_summary(&log_text(&log))
    ));

    narrate::syscall(format!(
        "open({:?}, O_RDONLY | O_DIRECTORY)",
        cgroup_dir.display()
    ));
    let cgroup = nix::fcntl::open(
        cgroup_dir,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|source| DevicesError::OpenCgroup {
        path: cgroup_dir.to_path_buf(),
        source,
    })?;
    // SAFETY: open(2) just returned it, and nothing else owns it.
    let cgroup = unsafe { OwnedFd::from_raw_fd(cgroup) };

    let mut attach = ProgAttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
    };
    narrate::syscall(format!(
        "bpf(BPF_PROG_ATTACH, {}, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI)",
        cgroup_dir.display()
    ));
    bpf(BPF_PROG_ATTACH, &mut attach).map_err(|source| DevicesError::AttachProgram {
        path: cgroup_dir.to_path_buf(),
        source,
    })?;
    narrate::syscall("close(prog_fd)   # the cgroup holds the program now");
    drop(prog);
    Ok(())
}
// ANCHOR_END: attach

/// The verifier's log: the text up to the first NUL, trimmed.
fn log_text(buf: &[u8]) -> String {
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).trim().to_string()
}

/// What the verifier's last line says of an accepted program, shortened:
/// `processed 219 insns (limit 1000000) max_states_per_insn 2 ...` becomes
/// "accepted after 219 steps": the verifier walks every path, so a
/// program's instructions are counted once per path through them.
fn verifier_summary(log: &str) -> String {
    let steps = log
        .lines()
        .last()
        .and_then(|l| l.strip_prefix("processed "))
        .and_then(|l| l.split_whitespace().next());
    match steps {
        Some(n) => format!("the verifier accepted it after {n} steps"),
        None => "the verifier accepted it".to_string(),
    }
}

/// The verifier's log, for an error message: its last lines, where the
/// reason is, indented; nothing when it is empty.
fn log_tail(log: &str) -> String {
    const KEEP: usize = 20;
    let lines: Vec<&str> = log.lines().collect();
    if lines.is_empty() {
        return String::new();
    }
    let tail = &lines[lines.len().saturating_sub(KEEP)..];
    format!("; the verifier said:\n  {}", tail.join("\n  "))
}

/// What can go wrong while setting up a device cgroup, named after the
/// step that failed.
#[derive(Debug, thiserror::Error)]
pub enum DevicesError {
    /// bpf(BPF_PROG_LOAD) refused the program.
    #[error("failed to load the device program (bpf BPF_PROG_LOAD){}", log_tail(.log))]
    LoadProgram {
        /// The verifier's log, empty when it did not get that far.
        log: String,
        /// The cause.
        #[source]
        source: Errno,
    },
    /// Opening the cgroup directory, to attach to, failed.
    #[error("failed to open the cgroup {}", path.display())]
    OpenCgroup {
        /// The cgroup directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: Errno,
    },
    /// bpf(BPF_PROG_ATTACH) refused to attach the program to the cgroup.
    #[error("failed to attach the device program to the cgroup {}", path.display())]
    AttachProgram {
        /// The cgroup directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: Errno,
    },
}

impl DevicesError {
    /// Advice for the learner, where there is some to give.
    pub fn hint(&self) -> Option<String> {
        match self {
            DevicesError::LoadProgram {
                source: Errno::EPERM,
                ..
            } => Some("loading eBPF programs needs root (CAP_BPF and CAP_SYS_ADMIN)".into()),
            DevicesError::LoadProgram { log, .. } if log.is_empty() => Some(
                "the kernel may lack cgroup eBPF (CONFIG_CGROUP_BPF); `nslab doctor` shows the cgroup layout"
                    .into(),
            ),
            DevicesError::LoadProgram { .. } => {
                Some("the verifier refused the program: its log says at which instruction".into())
            }
            DevicesError::OpenCgroup { .. } => {
                Some("the cgroup must exist before its device program is attached".into())
            }
            DevicesError::AttachProgram {
                source: Errno::EBADF,
                ..
            } => Some(
                "device programs attach to cgroup2 directories only; on cgroup v1 use the devices controller's files"
                    .into(),
            ),
            DevicesError::AttachProgram {
                source: Errno::EPERM,
                ..
            } => Some(
                "attaching needs root; or an ancestor cgroup holds a device program that allows no others below it"
                    .into(),
            ),
            DevicesError::AttachProgram { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(rules: &[DeviceRule]) -> Vec<String> {
        rules.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn the_default_rules_print_in_v1_syntax() {
        assert_eq!(
            lines(DEFAULT_ALLOWED),
            [
                "c *:* m",
                "b *:* m",
                "c 1:3 rwm",
                "c 1:5 rwm",
                "c 1:7 rwm",
                "c 1:8 rwm",
                "c 1:9 rwm",
                "c 5:0 rwm",
                "c 5:1 rwm",
                "c 5:2 rwm",
                "c 136:* rwm",
                "c 10:200 rwm",
            ]
        );
    }

    #[test]
    fn access_prints_in_rwm_order() {
        assert_eq!(Access::NONE.to_string(), "");
        assert_eq!((Access::MKNOD | Access::READ).to_string(), "rm");
        assert_eq!((Access::WRITE | Access::READ).to_string(), "rw");
        assert_eq!(Access::RWM.to_string(), "rwm");
        let all = DeviceRule {
            kind: DeviceKind::All,
            major: None,
            minor: None,
            access: Access::RWM,
        };
        assert_eq!(all.to_string(), "a *:* rwm");
    }

    #[test]
    fn v1_denies_everything_first_then_allows_each_rule() {
        let dir = Path::new("/sys/fs/cgroup/devices/nslab/c1");
        let writes = v1_writes(dir, &DEFAULT_ALLOWED[..3]);
        let expected: Vec<(PathBuf, String)> = [
            ("devices.deny", "a"),
            ("devices.allow", "c *:* m"),
            ("devices.allow", "b *:* m"),
            ("devices.allow", "c 1:3 rwm"),
        ]
        .iter()
        .map(|(file, line)| (dir.join(file), line.to_string()))
        .collect();
        assert_eq!(writes, expected);
    }

    fn text(insns: &[Insn]) -> Vec<String> {
        insns.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn the_program_has_a_prologue_a_block_per_rule_and_returns_0() {
        let rules = [
            // c 1:3 rwm: kind, major, minor.
            DEFAULT_ALLOWED[2],
            // b *:* m: kind and access only.
            DEFAULT_ALLOWED[1],
        ];
        assert_eq!(
            text(&program(&rules)),
            [
                "r2 = *(u32 *)(r1 +0)",
                "w2 &= 0xffff",
                "r3 = *(u32 *)(r1 +0)",
                "w3 >>= 16",
                "r4 = *(u32 *)(r1 +4)",
                "r5 = *(u32 *)(r1 +8)",
                // c 1:3 rwm
                "if w2 != 0x2 goto pc+4",
                "if w4 != 0x1 goto pc+3",
                "if w5 != 0x3 goto pc+2",
                "r0 = 1",
                "exit",
                // b *:* m
                "if w2 != 0x1 goto pc+5",
                "w1 = w3",
                "w1 &= 0xfffffffe",
                "if w1 != 0x0 goto pc+2",
                "r0 = 1",
                "exit",
                // nothing matched
                "r0 = 0",
                "exit",
            ]
        );
    }

    #[test]
    fn the_default_program_has_one_block_per_rule() {
        let prog = text(&program(DEFAULT_ALLOWED));
        assert_eq!(prog.len(), 69);
        let returns_1 = prog.iter().filter(|l| *l == "r0 = 1").count();
        assert_eq!(returns_1, DEFAULT_ALLOWED.len());
        assert_eq!(prog[prog.len() - 2..], ["r0 = 0", "exit"]);
    }

    #[test]
    fn a_rule_allowing_everything_ends_the_program() {
        let all = DeviceRule {
            kind: DeviceKind::All,
            major: None,
            minor: None,
            access: Access::RWM,
        };
        let prog = text(&program(&[DEFAULT_ALLOWED[2], all, DEFAULT_ALLOWED[3]]));
        // prologue, c 1:3 rwm, then "return 1" and nothing after it.
        assert_eq!(prog.len(), 6 + 5 + 2);
        assert_eq!(prog[prog.len() - 2..], ["r0 = 1", "exit"]);
    }

    #[test]
    fn instructions_are_encoded_as_the_kernel_lays_them_out() {
        // r2 = *(u32 *)(r1 +0): opcode 0x61, dst 2 and src 1 in one byte.
        let insn = Insn::load_u32(R_TYPE, R1, 0);
        // SAFETY: Insn is #[repr(C)], 8 bytes, no padding.
        let bytes: [u8; 8] = unsafe { std::mem::transmute(insn) };
        #[cfg(target_endian = "little")]
        assert_eq!(bytes, [0x61, 0x12, 0, 0, 0, 0, 0, 0]);
        // if w4 != 0x1 goto pc+3
        let mut jump = Insn::jne32(R_MAJOR, 1);
        jump.off = 3;
        let bytes: [u8; 8] = unsafe { std::mem::transmute(jump) };
        #[cfg(target_endian = "little")]
        assert_eq!(bytes, [0x56, 0x04, 3, 0, 1, 0, 0, 0]);
    }

    // A tiny interpreter of the instructions `program` emits, and a model of
    // the rules in plain Rust: the program must decide as the model does.

    /// What the program returns for a request; panics on anything the
    /// verifier would refuse here (a jump out of the program, falling off
    /// its end, an unknown opcode).
    fn run(prog: &[Insn], kind: u32, access: u32, major: u32, minor: u32) -> u64 {
        let ctx = [(access << 16) | kind, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let insn = prog.get(pc).expect("ran off the end of the program");
            let (dst, src) = (insn.dst() as usize, insn.src() as usize);
            pc += 1;
            match insn.code {
                LDX_MEM_W => {
                    assert_eq!(src, 1, "loads only from the context");
                    r[dst] = ctx[insn.off as usize / 4] as u64;
                }
                ALU32_AND_K => r[dst] = (r[dst] as u32 & insn.imm as u32) as u64,
                ALU32_RSH_K => r[dst] = ((r[dst] as u32) >> insn.imm) as u64,
                ALU32_MOV_X => r[dst] = r[src] as u32 as u64,
                ALU64_MOV_K => r[dst] = insn.imm as i64 as u64,
                JMP32_JNE_K => {
                    if r[dst] as u32 != insn.imm as u32 {
                        pc += insn.off as usize;
                    }
                }
                JMP_EXIT => return r[0],
                code => panic!("unknown opcode {code:#x}"),
            }
        }
    }

    /// The rules' meaning, in Rust.
    fn model(
        rules: &[DeviceRule],
        kind: DeviceKind,
        access: Access,
        major: u32,
        minor: u32,
    ) -> bool {
        rules.iter().any(|rule| {
            (rule.kind == DeviceKind::All || rule.kind == kind)
                && rule.major.map_or(true, |m| m == major)
                && rule.minor.map_or(true, |m| m == minor)
                && rule.access.contains(access)
        })
    }

    #[test]
    fn the_default_program_decides_as_the_rules_say() {
        let prog = program(DEFAULT_ALLOWED);
        let allowed = |kind, access: Access, major, minor| {
            let t = if kind == DeviceKind::Block {
                DEV_BLOCK
            } else {
                DEV_CHAR
            };
            run(&prog, t, access.bits().into(), major, minor) == 1
        };
        // /dev/null, read and write.
        assert!(allowed(
            DeviceKind::Char,
            Access::READ | Access::WRITE,
            1,
            3
        ));
        // /dev/pts/7.
        assert!(allowed(DeviceKind::Char, Access::READ, 136, 7));
        // The disk: mknod yes, read no.
        assert!(allowed(DeviceKind::Block, Access::MKNOD, 254, 0));
        assert!(!allowed(DeviceKind::Block, Access::READ, 254, 0));
        // /dev/fuse (10:229): tun's major, another minor.
        assert!(!allowed(DeviceKind::Char, Access::READ, 10, 229));
        // /dev/mem (1:1), and 1:3 as a block device.
        assert!(!allowed(DeviceKind::Char, Access::READ, 1, 1));
        assert!(!allowed(DeviceKind::Block, Access::READ, 1, 3));

        // Everywhere on a grid, the program and the model agree.
        for kind in [DeviceKind::Char, DeviceKind::Block] {
            for bits in 1..8 {
                let access = Access(bits);
                for major in [0, 1, 5, 10, 136, 254] {
                    for minor in [0, 1, 2, 3, 5, 7, 8, 9, 200, 229] {
                        assert_eq!(
                            allowed(kind, access, major, minor),
                            model(DEFAULT_ALLOWED, kind, access, major, minor),
                            "{kind} {major}:{minor} {access}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn an_all_rule_with_partial_access_matches_both_kinds() {
        let rules = [DeviceRule {
            kind: DeviceKind::All,
            major: Some(8),
            minor: None,
            access: Access::READ | Access::MKNOD,
        }];
        let prog = program(&rules);
        let r = Access::READ.bits() as u32;
        let w = Access::WRITE.bits() as u32;
        assert_eq!(run(&prog, DEV_BLOCK, r, 8, 1), 1);
        assert_eq!(run(&prog, DEV_CHAR, r, 8, 0), 1);
        assert_eq!(run(&prog, DEV_BLOCK, r | w, 8, 1), 0);
        assert_eq!(run(&prog, DEV_BLOCK, r, 9, 1), 0);
    }

    #[test]
    fn no_rules_refuse_everything() {
        let prog = program(&[]);
        assert_eq!(text(&prog)[6..], ["r0 = 0", "exit"]);
        assert_eq!(run(&prog, DEV_CHAR, 2, 1, 3), 0);
    }

    #[test]
    fn an_accepted_load_is_summed_up() {
        let log = "processed 219 insns (limit 1000000) max_states_per_insn 2 total_states 24";
        assert_eq!(
            verifier_summary(log),
            "the verifier accepted it after 219 steps"
        );
        assert_eq!(verifier_summary(""), "the verifier accepted it");
    }

    #[test]
    fn a_refused_load_shows_the_verifier_log_tail() {
        let err = DevicesError::LoadProgram {
            log: "0: R1=ctx() R10=fp0\n0: (95) exit\nR0 !read_ok".into(),
            source: Errno::EACCES,
        };
        assert_eq!(
            err.to_string(),
            "failed to load the device program (bpf BPF_PROG_LOAD); the verifier said:\n  \
             0: R1=ctx() R10=fp0\n  0: (95) exit\n  R0 !read_ok"
        );
        assert!(err.hint().unwrap().contains("verifier"));
    }
}
