//! overlayfs: a root filesystem stacked from read-only layers and one
//! writable layer (the kernel's Documentation/filesystems/overlayfs.rst).
//! Lesson 09 will build on this module; for now it holds whether this
//! kernel has overlayfs, which [`probe`] finds out for `nslab doctor`.

pub mod probe;
