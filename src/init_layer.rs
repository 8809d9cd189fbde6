//! Lesson 10: the init layer, the files made for one container and for
//! no other: `/etc/hostname`, `/etc/hosts` and `/etc/resolv.conf`.
//!
//! Docker puts them in a layer of their own, named `<id>-init`, between the
//! image's layers and the container's writable layer: above the image, so
//! that they win over whatever the image has; below the writable layer,
//! so that a commit of the container (its writable layer) never takes
//! them into a new image, where they would name the wrong host.
//!
//! The files are made from the container's spec by the parent, once the
//! network has an address for it ([`write`]); the functions that make
//! their text are pure and tested with fixed inputs.

use crate::narrate;
use std::fs;
use std::io;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// The nameservers put in place of the host's loopback ones: docker's
/// defaults. Writing them sends nothing; nslab gives containers no route
/// out, so they answer only where the container can reach them.
pub const DEFAULT_NAMESERVERS: [&str; 2] = ["8.8.8.8", "8.8.4.4"];

/// Where the host's resolver configuration is read from.
pub const HOST_RESOLV_CONF: &str = "/etc/resolv.conf";

/// What can go wrong making the init layer.
#[derive(Debug, thiserror::Error)]
pub enum InitLayerError {
    /// Writing one of its files failed.
    #[error("failed to write the init layer's {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl InitLayerError {
    /// Advice for the learner, where there is some to give.
    pub fn hint(&self) -> Option<String> {
        None
    }
}

// ANCHOR: hosts
/// `/etc/hostname`: the name, and a newline.
pub fn hostname_file(name: &str) -> String {
    format!("{name}\n")
}

/// `/etc/hosts`: localhost, and the container's own name at its address
/// (lesson 06's bridge), or at 127.0.1.1 without one, as Debian does.
pub fn hosts_file(name: &str, address: Option<Ipv4Addr>) -> String {
    let own = address.map_or_else(|| "127.0.1.1".to_string(), |a| a.to_string());
    format!(
        "# made by nslab for this container (its init layer)\n\
         127.0.0.1\tlocalhost\n\
         ::1\tlocalhost ip6-localhost ip6-loopback\n\
         {own}\t{name}\n"
    )
}
// ANCHOR_END: hosts

// ANCHOR: resolv
/// Whether a nameserver address is a loopback one (127.0.0.0/8, ::1): the
/// host's own resolver (systemd-resolved's 127.0.0.53, dnsmasq's
/// 127.0.0.1), which inside the container's network namespace is the
/// container's own loopback, where nothing answers.
fn is_loopback(address: &str) -> bool {
    address.starts_with("127.") || address == "::1"
}

/// `/etc/resolv.conf` from the host's: the same, but loopback nameservers
/// left out; when none is left, [`DEFAULT_NAMESERVERS`], with a note in
/// the file saying why.
pub fn resolv_conf(host: &str) -> String {
    let mut out =
        String::from("# made by nslab for this container (its init layer), from the host's\n");
    let mut dropped = Vec::new();
    let mut kept = 0;
    for line in host.lines() {
        let mut words = line.split_whitespace();
        if words.next() == Some("nameserver") {
            let address = words.next().unwrap_or("");
            if is_loopback(address) {
                dropped.push(address.to_string());
                continue;
            }
            kept += 1;
        }
        out.push_str(line);
        out.push('\n');
    }
    if !dropped.is_empty() {
        out.push_str(&format!(
            "# left out: nameserver {}: the host's loopback, which is not the container's\n",
            dropped.join(", ")
        ));
    }
    if kept == 0 {
        out.push_str("# no other nameserver on the host: docker's defaults instead\n");
        for server in DEFAULT_NAMESERVERS {
            out.push_str(&format!("nameserver {server}\n"));
        }
    }
    out
}
// ANCHOR_END: resolv

/// Writes the three files into `dir`, the container's init layer: the
/// parent's step once the network has given the container its address.
// ANCHOR: write
pub fn write(dir: &Path, name: &str, address: Option<Ipv4Addr>) -> Result<(), InitLayerError> {
    let host = fs::read_to_string(HOST_RESOLV_CONF).unwrap_or_default();
    let etc = dir.join("etc");
    let files = [
        ("hostname", hostname_file(name)),
        ("hosts", hosts_file(name, address)),
        ("resolv.conf", resolv_conf(&host)),
    ];
    fs::create_dir_all(&etc).map_err(|source| InitLayerError::Write {
        path: etc.clone(),
        source,
    })?;
    for (file, text) in files {
        let path = etc.join(file);
        narrate::file_op(format!(
            "write {}   # the init layer's /etc/{file}",
            path.display()
        ));
        fs::write(&path, text).map_err(|source| InitLayerError::Write { path, source })?;
    }
    Ok(())
}
// ANCHOR_END: write

/// After the run, from the host: which layers hold the three files. The
/// init layer does; the image layers do not (or hold their own, which the
/// init layer hides); the writable layer, what a commit would take, does
/// not either, unless the container changed one.
pub fn show_where(init: &Path, image: &[PathBuf], upper: &Path) {
    narrate::heading("The init layer's files, seen from the host");
    for file in ["etc/hostname", "etc/hosts", "etc/resolv.conf"] {
        let in_image: Vec<String> = image
            .iter()
            .filter(|layer| layer.join(file).exists())
            .map(|layer| layer.display().to_string())
            .collect();
        narrate::observe(
            format!("/{file}"),
            format!(
                "init layer: {}; image layers: {}; writable layer (a commit): {}",
                if init.join(file).exists() {
                    "yes"
                } else {
                    "no"
                },
                if in_image.is_empty() {
                    "no".to_string()
                } else {
                    format!("its own, hidden ({})", in_image.join(", "))
                },
                if upper.join(file).exists() {
                    "yes: the container changed it"
                } else {
                    "no"
                },
            ),
        );
    }
    narrate::explain(
        "a commit of this container takes its writable layer only: the files made for it stay out of the image",
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_names_the_container_at_its_address() {
        let hosts = hosts_file("web", Some(Ipv4Addr::new(10, 213, 0, 2)));
        assert!(hosts.contains("127.0.0.1\tlocalhost\n"));
        assert!(hosts.ends_with("10.213.0.2\tweb\n"), "{hosts}");
        assert!(hosts_file("web", None).ends_with("127.0.1.1\tweb\n"));
        assert_eq!(hostname_file("web"), "web\n");
    }

    #[test]
    fn loopback_nameservers_are_replaced_and_the_file_says_why() {
        let resolved =
            "# systemd-resolved\nnameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n";
        let out = resolv_conf(resolved);
        assert!(!out.contains("nameserver 127.0.0.53\n"), "{out}");
        assert!(out.contains("options edns0 trust-ad\n") && out.contains("search lan\n"));
        assert!(out.contains("# left out: nameserver 127.0.0.53"), "{out}");
        assert!(
            out.contains("nameserver 8.8.8.8\nnameserver 8.8.4.4\n"),
            "{out}"
        );
        // A usable nameserver is kept, and no default is added.
        let lan = "nameserver 127.0.0.1\nnameserver 192.168.1.1\n";
        let out = resolv_conf(lan);
        assert!(out.contains("nameserver 192.168.1.1\n"));
        assert!(!out.contains("8.8.8.8"), "{out}");
        assert!(out.contains("# left out: nameserver 127.0.0.1"));
    }
}
