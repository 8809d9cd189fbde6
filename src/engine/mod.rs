//! The engine: a small docker above nslab's own runtime (lesson 12, part 2).
//!
//! Docker's engine does not start containers itself: it turns an image and
//! a command line into an OCI bundle, and hands the bundle to runc. This
//! module tree does the same with [`crate::runtime`]: [`image`] stores
//! images as content-addressed layers, and the rest turns `nslab run IMAGE`
//! into an overlay root, a `config.json`, and a container.

pub mod image;
pub mod proxy;
