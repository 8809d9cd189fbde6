//! User namespaces: root inside, an ordinary user outside
//! (user_namespaces(7)). Lesson 07 will build on this module; for now it
//! holds what decides whether user namespaces work on this machine at all,
//! the switches that [`probe`] reads for `nslab doctor`.

pub mod probe;
