//! The engine's image store, on real tarballs and a real kernel: every
//! tarball is built here with the tar crate, imported into a temporary
//! state directory, and the result checked where it matters: in the layer
//! directories, and through an overlay mount of them (in a private mount
//! namespace, `unshare -m`, so the host's mount table never sees it).

mod common;

use nslab::engine::image::{Image, ImageConfig, ImageError, ImageStore};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use tar::{EntryType, Header};

// ---------------------------------------------------------------------
// Building tarballs

/// A tar being built in memory.
struct Tarball(tar::Builder<Vec<u8>>);

impl Tarball {
    fn new() -> Tarball {
        Tarball(tar::Builder::new(Vec::new()))
    }

    fn header(kind: EntryType, mode: u32, size: u64) -> Header {
        let mut header = Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_size(size);
        header.set_mtime(1_600_000_000);
        header.set_uid(0);
        header.set_gid(0);
        header
    }

    fn file(self, path: &str, content: &str) -> Tarball {
        self.file_owned(path, content.as_bytes(), 0o644, 0, 0)
    }

    fn file_owned(mut self, path: &str, content: &[u8], mode: u32, uid: u64, gid: u64) -> Tarball {
        let mut header = Self::header(EntryType::Regular, mode, content.len() as u64);
        header.set_uid(uid);
        header.set_gid(gid);
        self.0.append_data(&mut header, path, content).unwrap();
        self
    }

    fn dir(mut self, path: &str) -> Tarball {
        let mut header = Self::header(EntryType::Directory, 0o755, 0);
        self.0
            .append_data(&mut header, path, std::io::empty())
            .unwrap();
        self
    }

    fn symlink(mut self, path: &str, target: &str) -> Tarball {
        let mut header = Self::header(EntryType::Symlink, 0o777, 0);
        self.0.append_link(&mut header, path, target).unwrap();
        self
    }

    /// A hard link, its target written as given (`/etc/passwd`, `../x`:
    /// the builder's own checks are bypassed).
    fn hard_link(self, path: &str, target: &str) -> Tarball {
        self.raw(
            path.as_bytes(),
            EntryType::Link,
            Some(target.as_bytes()),
            b"",
            (0, 0),
        )
    }

    fn fifo(self, path: &str) -> Tarball {
        self.raw(path.as_bytes(), EntryType::Fifo, None, b"", (0, 0))
    }

    fn device(self, path: &str, kind: EntryType, major: u32, minor: u32) -> Tarball {
        self.raw(path.as_bytes(), kind, None, b"", (major, minor))
    }

    /// Any entry, its name written byte for byte: how a hostile tarball
    /// gets `../escape` past the tar crate's builder.
    fn raw(
        mut self,
        name: &[u8],
        kind: EntryType,
        link: Option<&[u8]>,
        data: &[u8],
        dev: (u32, u32),
    ) -> Tarball {
        let mut header = Self::header(kind, 0o644, data.len() as u64);
        header.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name);
        if let Some(link) = link {
            header.set_link_name_literal(link).unwrap();
        }
        header.set_device_major(dev.0).unwrap();
        header.set_device_minor(dev.1).unwrap();
        header.set_cksum();
        self.0.append(&header, data).unwrap();
        self
    }

    /// A file with extended attributes (pax `SCHILY.xattr.NAME`).
    fn file_with_xattr(mut self, path: &str, content: &str, name: &str, value: &str) -> Tarball {
        let key = format!("SCHILY.xattr.{name}");
        self.0
            .append_pax_extensions([(key.as_str(), value.as_bytes())])
            .unwrap();
        self.file(path, content)
    }

    fn finish(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

fn sha(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    format!(
        "sha256:{}",
        hash.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

fn hex(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// An image config as docker and OCI write it.
fn config_json(diff_ids: &[String], run: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "2026-01-02T03:04:05Z",
        "config": run,
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
        "container_config": { "Hostname": "builder" },
        "docker_version": "24.0.7",
    }))
    .unwrap()
}

/// A `docker save` tarball of one image with these layer tars.
fn docker_save(layers: &[Vec<u8>], run: serde_json::Value, tags: &[&str]) -> Vec<u8> {
    let diff_ids: Vec<String> = layers.iter().map(|l| sha(l)).collect();
    let config = config_json(&diff_ids, run);
    docker_save_with(layers, &config, &diff_ids, tags)
}

fn docker_save_with(
    layers: &[Vec<u8>],
    config: &[u8],
    diff_ids: &[String],
    tags: &[&str],
) -> Vec<u8> {
    let config_name = format!("{}.json", hex(&sha(config)));
    let layer_names: Vec<String> = diff_ids
        .iter()
        .map(|d| format!("{}/layer.tar", hex(d)))
        .collect();
    let manifest = json!([{ "Config": config_name, "RepoTags": tags, "Layers": layer_names }]);
    let mut tar = Tarball::new().file(&config_name, &String::from_utf8_lossy(config));
    for (name, layer) in layer_names.iter().zip(layers) {
        tar = tar.dir(name.trim_end_matches("/layer.tar"));
        tar = tar.file_owned(name, layer, 0o644, 0, 0);
    }
    tar.file("manifest.json", &manifest.to_string()).finish()
}

/// An OCI image layout in `dir`: each layer gzipped or not, the index's
/// descriptor annotated with `annotations`.
fn oci_layout(
    dir: &Path,
    layers: &[(Vec<u8>, bool)],
    run: serde_json::Value,
    annotations: serde_json::Value,
) {
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| {
        let digest = sha(bytes);
        fs::write(blobs.join(hex(&digest)), bytes).unwrap();
        json!({ "digest": digest, "size": bytes.len() })
    };
    let diff_ids: Vec<String> = layers.iter().map(|(l, _)| sha(l)).collect();
    let mut layer_descriptors = Vec::new();
    for (layer, gzipped) in layers {
        let (bytes, media) = if *gzipped {
            (gzip(layer), "application/vnd.oci.image.layer.v1.tar+gzip")
        } else {
            (layer.clone(), "application/vnd.oci.image.layer.v1.tar")
        };
        let mut descriptor = put(&bytes);
        descriptor["mediaType"] = media.into();
        layer_descriptors.push(descriptor);
    }
    let mut config = put(&config_json(&diff_ids, run));
    config["mediaType"] = "application/vnd.oci.image.config.v1+json".into();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config,
        "layers": layer_descriptors,
    }))
    .unwrap();
    let mut descriptor = put(&manifest);
    descriptor["mediaType"] = "application/vnd.oci.image.manifest.v1+json".into();
    descriptor["annotations"] = annotations;
    let index = json!({ "schemaVersion": 2, "manifests": [descriptor] });
    fs::write(dir.join("index.json"), index.to_string()).unwrap();
    fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}

/// The directory `dir` as a tar, entries named relative to it.
fn tar_of_dir(dir: &Path) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.append_dir_all(".", dir).unwrap();
    builder.into_inner().unwrap()
}

// ---------------------------------------------------------------------
// Looking at the result

/// A temporary state directory and the store in it.
struct Fixture {
    dir: tempfile::TempDir,
    store: ImageStore,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(&dir.path().join("state")).unwrap();
        Fixture { dir, store }
    }

    /// Writes `bytes` to a file in the fixture's directory.
    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        fs::write(&path, bytes).unwrap();
        path
    }

    fn images(&self) -> PathBuf {
        self.dir.path().join("state/images")
    }

    /// The names in one of the store's directories, sorted.
    fn ls(&self, sub: &str) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.images().join(sub))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    /// Nothing of a failed import is left: no layer, no image, no name,
    /// nothing in tmp/.
    fn assert_empty(&self) {
        assert_eq!(self.ls("layers"), Vec::<String>::new(), "layers");
        assert_eq!(self.ls("images"), Vec::<String>::new(), "images");
        assert_eq!(self.ls("tmp"), Vec::<String>::new(), "tmp");
        assert!(self.store.list().unwrap().is_empty());
    }
}

/// Runs `script` in the overlay of `image`'s layers, in a mount namespace
/// of its own, and returns what it printed.
fn in_overlay(store: &ImageStore, image: &Image, script: &str) -> String {
    let mut lower: Vec<String> = store
        .layer_dirs(image)
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    // overlayfs wants two lower layers when it has no upper one.
    let empty = tempfile::tempdir().unwrap();
    lower.push(empty.path().display().to_string());
    let mnt = tempfile::tempdir().unwrap();
    let mnt = mnt.path().display();
    let lower = lower.join(":");
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c"])
        .arg(format!(
            "mount -t overlay overlay -o lowerdir={lower} {mnt} && cd {mnt} && {script}"
        ))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn layer_dir(store: &ImageStore, diff_id: &str) -> PathBuf {
    store.dir().join("layers").join(hex(diff_id))
}

// ---------------------------------------------------------------------
// docker export

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn an_export_becomes_one_layer_that_keeps_owners_modes_links_and_xattrs() {
    require_root!();
    let f = Fixture::new();
    let layer = Tarball::new()
        .dir("bin")
        .file_owned("bin/busybox", b"#!binary", 0o4755, 1000, 1001)
        .symlink("bin/sh", "/bin/busybox")
        .hard_link("bin/ls", "bin/busybox")
        .fifo("run/pipe")
        .file_with_xattr("etc/tagged", "x", "user.nslab", "yes")
        .finish();
    let file = f.write("export.tar", &layer);

    let error = f.store.import(&file, None).unwrap_err();
    assert!(matches!(error, ImageError::NoName { .. }), "{error}");
    assert!(error
        .hint()
        .unwrap()
        .contains("nslab image import FILE NAME"));
    f.assert_empty();

    let image = f.store.import(&file, Some("exported")).unwrap();
    assert_eq!(image.names, ["exported:latest"]);
    assert_eq!(
        image.layers,
        [sha(&layer)],
        "the diff_id is the tar's own sha256"
    );
    assert_eq!(
        image.config,
        ImageConfig::default(),
        "an export has no config"
    );
    assert!(image.id.starts_with("sha256:") && image.id != image.layers[0]);
    let dir = layer_dir(&f.store, &image.layers[0]);
    assert_eq!(f.store.layer_dirs(&image), std::slice::from_ref(&dir));

    let busybox = fs::symlink_metadata(dir.join("bin/busybox")).unwrap();
    assert_eq!((busybox.uid(), busybox.gid()), (1000, 1001));
    assert_eq!(busybox.mode() & 0o7777, 0o4755, "setuid survives the chown");
    assert_eq!(busybox.mtime(), 1_600_000_000);
    let bin = fs::metadata(dir.join("bin")).unwrap();
    assert_eq!(
        bin.mtime(),
        1_600_000_000,
        "set again after its files were made"
    );
    assert_eq!(
        fs::read_link(dir.join("bin/sh")).unwrap(),
        Path::new("/bin/busybox")
    );
    assert_eq!(
        fs::metadata(dir.join("bin/ls")).unwrap().ino(),
        busybox.ino()
    );
    assert!(fs::symlink_metadata(dir.join("run/pipe"))
        .unwrap()
        .file_type()
        .is_fifo());
    assert_eq!(get_xattr(&dir.join("etc/tagged"), "user.nslab"), b"yes");
    assert!(image.size >= 9, "{}", image.size);

    // Found by name, by id, by a prefix of the id.
    assert_eq!(f.store.find("exported:latest").unwrap().id, image.id);
    assert_eq!(f.store.find(&image.id).unwrap().id, image.id);
    assert_eq!(f.store.find(&hex(&image.id)[..6]).unwrap().id, image.id);

    // The same file again is the same image: one layer, one image, two names.
    let again = f.store.import(&file, Some("exported:2")).unwrap();
    assert_eq!(again.id, image.id);
    assert_eq!(again.names, ["exported:2", "exported:latest"]);
    assert_eq!(f.ls("layers").len(), 1);
    assert_eq!(f.ls("tmp"), Vec::<String>::new());
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn a_gzipped_export_is_the_same_layer() {
    require_root!();
    let f = Fixture::new();
    let layer = Tarball::new().file("hello", "world").finish();
    // An odd file name too: spaces and non-ASCII are just bytes.
    let image = f
        .store
        .import(&f.write("my export ü.tar.gz", &gzip(&layer)), Some("gz"))
        .unwrap();
    assert_eq!(image.layers, [sha(&layer)]);
    assert_eq!(
        fs::read_to_string(layer_dir(&f.store, &image.layers[0]).join("hello")).unwrap(),
        "world"
    );
    assert_eq!(
        f.ls("tmp"),
        Vec::<String>::new(),
        "the decompressed copy is gone"
    );
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn an_export_can_come_through_a_pipe() {
    require_root!();
    // `docker export c | nslab image import /dev/stdin NAME`: a pipe
    // cannot be seeked in, so it is copied first.
    let f = Fixture::new();
    let layer = Tarball::new().file("piped", "through").finish();
    let fifo = f.dir.path().join("pipe");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let writer = {
        let (fifo, layer) = (fifo.clone(), layer.clone());
        std::thread::spawn(move || fs::write(fifo, layer).unwrap())
    };
    let image = f.store.import(&fifo, Some("piped")).unwrap();
    writer.join().unwrap();
    assert_eq!(image.layers, [sha(&layer)]);
    let dir = layer_dir(&f.store, &image.layers[0]);
    assert_eq!(fs::read_to_string(dir.join("piped")).unwrap(), "through");
    assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o7777, 0o755);
    assert_eq!(f.ls("tmp"), Vec::<String>::new(), "the copy is gone");
}

// ---------------------------------------------------------------------
// docker save: two layers, a whiteout, an opaque directory

fn lower_layer() -> Vec<u8> {
    Tarball::new()
        .dir("etc")
        .file("etc/passwd", "root:x:0:0")
        .file("etc/keep", "kept")
        .dir("data")
        .file("data/old1", "1")
        .file("data/old2", "2")
        .finish()
}

fn upper_layer() -> Vec<u8> {
    Tarball::new()
        .file("etc/.wh.passwd", "")
        .dir("data")
        .file("data/.wh..wh..opq", "")
        .file("data/new", "new")
        .finish()
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn docker_save_layers_stack_with_their_whiteouts_and_opaque_directories() {
    require_root!();
    let f = Fixture::new();
    let (lower, upper) = (lower_layer(), upper_layer());
    let run = json!({
        "Env": ["PATH=/bin", "GREETING=hi"], "Cmd": ["sh", "-c", "echo $GREETING"],
        "Entrypoint": null, "WorkingDir": "/data", "User": "1000:1000",
    });
    let file = f.write(
        "save.tar",
        &docker_save(
            &[lower.clone(), upper.clone()],
            run,
            &["docker.io/library/app:1.0"],
        ),
    );
    let image = f.store.import(&file, None).unwrap();

    assert_eq!(
        image.names,
        ["app:1.0"],
        "the name inside, docker.io's prefix dropped"
    );
    assert_eq!(image.layers, [sha(&lower), sha(&upper)], "bottom first");
    assert_eq!(image.created, "2026-01-02T03:04:05Z");
    assert_eq!(image.config.env, ["PATH=/bin", "GREETING=hi"]);
    assert_eq!(image.config.cmd, ["sh", "-c", "echo $GREETING"]);
    assert!(image.config.entrypoint.is_empty());
    assert_eq!(image.config.working_dir, "/data");
    assert_eq!(image.config.user, "1000:1000");
    let dirs = f.store.layer_dirs(&image);
    assert_eq!(
        dirs,
        [
            layer_dir(&f.store, &sha(&upper)),
            layer_dir(&f.store, &sha(&lower))
        ],
        "top first"
    );

    // In overlay's spelling, in the upper layer's directory…
    let whiteout = fs::symlink_metadata(dirs[0].join("etc/passwd")).unwrap();
    assert!(whiteout.file_type().is_char_device() && whiteout.rdev() == 0);
    assert!(
        !dirs[0].join("etc/.wh.passwd").exists() && !dirs[0].join("data/.wh..wh..opq").exists()
    );
    assert_eq!(
        get_xattr(&dirs[0].join("data"), "trusted.overlay.opaque"),
        b"y"
    );
    // …and what a container sees.
    assert_eq!(
        in_overlay(&f.store, &image, "ls etc; echo --; ls data; cat data/new"),
        "keep\n--\nnew\nnew"
    );
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn a_wrong_diff_id_is_named_and_nothing_is_kept() {
    require_root!();
    let f = Fixture::new();
    let (lower, upper) = (lower_layer(), upper_layer());
    // The config promises another upper layer than the one in the file.
    let promised = vec![sha(&lower), sha(b"another layer")];
    let config = config_json(&promised, json!({}));
    let file = f.write(
        "bad.tar",
        &docker_save_with(&[lower, upper], &config, &promised, &["bad:1"]),
    );
    let error = f.store.import(&file, None).unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(error, ImageError::DigestMismatch { .. }),
        "{message}"
    );
    assert!(message.contains("layer 2 of 2"), "{message}");
    assert!(message.contains(&sha(b"another layer")), "{message}");
    assert!(error.hint().unwrap().contains("damaged"));
    f.assert_empty();
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn a_config_that_is_not_its_own_digest_is_refused() {
    require_root!();
    let f = Fixture::new();
    let layer = lower_layer();
    let save = docker_save(&[layer], json!({}), &["x:1"]);
    // Change a few bytes of the config, keep its name.
    let file = f.write(
        "changed.tar",
        &retar(&save, |name, data| {
            if name.ends_with(".json") && name != "manifest.json" {
                String::from_utf8_lossy(data)
                    .replace("builder", "BUILDER")
                    .into_bytes()
            } else {
                data.to_vec()
            }
        }),
    );
    let error = f.store.import(&file, None).unwrap_err();
    assert!(
        matches!(error, ImageError::DigestMismatch { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("the config"), "{error}");
    f.assert_empty();
}

/// The same tar with each regular member's bytes passed through `change`.
fn retar(tar_bytes: &[u8], change: impl Fn(&str, &[u8]) -> Vec<u8>) -> Vec<u8> {
    let mut archive = tar::Archive::new(tar_bytes);
    let mut out = Tarball::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().display().to_string();
        if entry.header().entry_type() == EntryType::Directory {
            out = out.dir(&name);
            continue;
        }
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
        out = out.file_owned(&name, &change(&name, &data), 0o644, 0, 0);
    }
    out.finish()
}

// ---------------------------------------------------------------------
// OCI image layouts

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn an_oci_layout_imports_from_a_directory_and_from_a_tar_of_it() {
    require_root!();
    let f = Fixture::new();
    let layout = f.dir.path().join("layout");
    let (lower, upper) = (lower_layer(), upper_layer());
    oci_layout(
        &layout,
        &[(lower.clone(), true), (upper.clone(), false)],
        json!({ "Cmd": ["/bin/app"], "Env": ["A=1"] }),
        json!({ "org.opencontainers.image.ref.name": "latest" }),
    );
    // Only a tag inside: a name is asked for, mentioning the tag.
    let error = f.store.import(&layout, None).unwrap_err();
    assert!(
        error.to_string().contains("only tagged `latest`"),
        "{error}"
    );
    f.assert_empty();

    let from_dir = f.store.import(&layout, Some("oci/app:dir")).unwrap();
    assert_eq!(
        from_dir.layers,
        [sha(&lower), sha(&upper)],
        "diff_ids: uncompressed"
    );
    assert_eq!(from_dir.config.cmd, ["/bin/app"]);
    assert_eq!(
        in_overlay(&f.store, &from_dir, "ls etc data"),
        "data:\nnew\n\netc:\nkeep\n"
    );

    let file = f.write("layout.tar", &tar_of_dir(&layout));
    let from_tar = f.store.import(&file, Some("oci/app:tar")).unwrap();
    assert_eq!(from_tar.id, from_dir.id, "one config, one image");
    assert_eq!(from_tar.names, ["oci/app:dir", "oci/app:tar"]);
    assert_eq!(f.ls("layers").len(), 2, "layers are shared, not copied");
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn an_oci_layout_names_its_image_with_containerds_annotation() {
    require_root!();
    let f = Fixture::new();
    let layout = f.dir.path().join("layout");
    oci_layout(
        &layout,
        &[(lower_layer(), true)],
        json!({}),
        json!({ "io.containerd.image.name": "docker.io/library/named:2", "org.opencontainers.image.ref.name": "2" }),
    );
    let image = f
        .store
        .import(&f.write("named.tar", &tar_of_dir(&layout)), None)
        .unwrap();
    assert_eq!(image.names, ["named:2"]);
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn a_blob_that_is_not_its_digest_is_named_and_nothing_is_kept() {
    require_root!();
    let f = Fixture::new();
    let layout = f.dir.path().join("layout");
    let lower = lower_layer();
    oci_layout(&layout, &[(lower.clone(), true)], json!({}), json!({}));
    // Another gzip of the same tar: the same diff_id, another blob digest.
    // The blob is replaced, its name (the digest) kept.
    let blob = layout.join("blobs/sha256").join(hex(&sha(&gzip(&lower))));
    let mut other = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    other.write_all(&lower).unwrap();
    let other = other.finish().unwrap();
    assert_ne!(other, fs::read(&blob).unwrap());
    fs::write(&blob, &other).unwrap();
    let error = f.store.import(&layout, Some("broken")).unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(error, ImageError::DigestMismatch { .. }),
        "{message}"
    );
    assert!(
        message.contains("the blob of layer 1 of 1") && message.contains(hex(&sha(&other))),
        "{message}"
    );
    f.assert_empty();
}

// ---------------------------------------------------------------------
// Hostile tarballs: refused (nothing kept) or neutralised

/// Imports `tar` as an export and expects it refused, naming `entry`,
/// with nothing left in the store.
fn assert_refused(tar: Vec<u8>, entry: &str) -> Fixture {
    let f = Fixture::new();
    let file = f.write("hostile.tar", &tar);
    let error = f.store.import(&file, Some("hostile")).unwrap_err();
    let message = error.to_string();
    assert!(message.contains(&format!("`{entry}`")), "{message}");
    f.assert_empty();
    f
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn dot_dot_is_refused() {
    require_root!();
    let f = assert_refused(
        Tarball::new()
            .file("ok", "1")
            .raw(b"../escape", EntryType::Regular, None, b"x", (0, 0))
            .finish(),
        "../escape",
    );
    assert!(!f.dir.path().join("state/images/escape").exists());
    assert!(!f.dir.path().join("state/images/tmp/escape").exists());
    // Alone in its tar, the entry is refused by name too, not taken for
    // "not a tar archive".
    assert_refused(
        Tarball::new()
            .raw(b"../../alone", EntryType::Regular, None, b"x", (0, 0))
            .finish(),
        "../../alone",
    );
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn an_absolute_path_lands_inside_the_layer() {
    require_root!();
    let f = Fixture::new();
    let marker = format!("/nslab-image-test-{}", std::process::id());
    let tar = Tarball::new()
        .raw(
            format!("{marker}/path").as_bytes(),
            EntryType::Regular,
            None,
            b"in",
            (0, 0),
        )
        .finish();
    let image = f
        .store
        .import(&f.write("abs.tar", &tar), Some("abs"))
        .unwrap();
    assert!(
        !Path::new(&marker).exists(),
        "nothing at {marker} on the host"
    );
    let inside = layer_dir(&f.store, &image.layers[0])
        .join(&marker[1..])
        .join("path");
    assert_eq!(fs::read_to_string(inside).unwrap(), "in");
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn nothing_is_written_through_a_symlink() {
    require_root!();
    let outside = tempfile::tempdir().unwrap();
    // The link's target exists (a directory on the host) or does not.
    for target in [outside.path().to_path_buf(), outside.path().join("missing")] {
        let target = target.display().to_string();
        let tar = Tarball::new()
            .symlink("link", &target)
            .file("link/file", "pwned")
            .finish();
        assert_refused(tar, "link/file");
        assert!(!outside.path().join("file").exists());
        assert!(!outside.path().join("missing").exists());
    }
    // A directory entry over the link does not chmod its target either.
    fs::set_permissions(outside.path(), fs::Permissions::from_mode(0o700)).unwrap();
    let target = outside.path().display().to_string();
    let tar = Tarball::new().symlink("etc", &target).dir("etc").finish();
    assert_refused(tar, "etc");
    assert_eq!(fs::metadata(outside.path()).unwrap().mode() & 0o777, 0o700);
    // A file entry of the link's own name replaces the link, not its target.
    let victim = outside.path().join("victim");
    fs::write(&victim, "safe").unwrap();
    let f = Fixture::new();
    let tar = Tarball::new()
        .symlink("link", &victim.display().to_string())
        .file("link", "pwned")
        .finish();
    let image = f
        .store
        .import(&f.write("replace.tar", &tar), Some("replace"))
        .unwrap();
    assert_eq!(fs::read_to_string(&victim).unwrap(), "safe");
    assert_eq!(
        fs::read_to_string(layer_dir(&f.store, &image.layers[0]).join("link")).unwrap(),
        "pwned"
    );
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn the_tar_crates_unpack_in_refuses_a_parent_that_is_a_symlink_out() {
    require_root!();
    // The check nslab makes first is a second lock on this door: the tar
    // crate's own, checked here so that a change in the crate shows.
    let outside = tempfile::tempdir().unwrap();
    let dest = tempfile::tempdir().unwrap();
    let tar = Tarball::new()
        .symlink("link", &outside.path().display().to_string())
        .file("link/file", "pwned")
        .finish();
    let mut archive = tar::Archive::new(&tar[..]);
    let results: Vec<bool> = archive
        .entries()
        .unwrap()
        .map(|entry| entry.unwrap().unpack_in(dest.path()).is_ok())
        .collect();
    assert_eq!(
        results,
        [true, false],
        "the link is made, the file through it refused"
    );
    assert!(!outside.path().join("file").exists());
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn a_hard_link_out_of_the_layer_is_refused() {
    require_root!();
    let links_before = fs::metadata("/etc/passwd").unwrap().nlink();
    assert_refused(
        Tarball::new().hard_link("passwd", "/etc/passwd").finish(),
        "passwd",
    );
    assert_refused(
        Tarball::new()
            .file("x", "1")
            .hard_link("y", "../x")
            .finish(),
        "y",
    );
    assert_eq!(fs::metadata("/etc/passwd").unwrap().nlink(), links_before);
    // With the tar's own etc/passwd, `/etc/passwd` means that one.
    let f = Fixture::new();
    let tar = Tarball::new()
        .file("etc/passwd", "mine")
        .hard_link("passwd", "/etc/passwd")
        .finish();
    let image = f
        .store
        .import(&f.write("link.tar", &tar), Some("link"))
        .unwrap();
    let dir = layer_dir(&f.store, &image.layers[0]);
    assert_eq!(
        fs::metadata(dir.join("passwd")).unwrap().ino(),
        fs::metadata(dir.join("etc/passwd")).unwrap().ino()
    );
    assert_eq!(fs::metadata("/etc/passwd").unwrap().nlink(), links_before);
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn devices_are_refused_but_the_whiteout_device() {
    require_root!();
    let f = assert_refused(
        Tarball::new()
            .device("dev/sda", EntryType::Block, 8, 0)
            .finish(),
        "dev/sda",
    );
    drop(f);
    let f = Fixture::new();
    let error = f
        .store
        .import(
            &f.write(
                "mem.tar",
                &Tarball::new()
                    .device("dev/mem", EntryType::Char, 1, 1)
                    .finish(),
            ),
            Some("mem"),
        )
        .unwrap_err();
    assert!(
        error.to_string().contains("character device (1/1)"),
        "{error}"
    );
    assert!(error.hint().unwrap().contains("nothing of it was kept"));
    // A 0/0 character device is overlay's own whiteout: kept as it is.
    let f = Fixture::new();
    let tar = Tarball::new()
        .device("gone", EntryType::Char, 0, 0)
        .finish();
    let image = f
        .store
        .import(&f.write("wh.tar", &tar), Some("wh"))
        .unwrap();
    let meta = fs::symlink_metadata(layer_dir(&f.store, &image.layers[0]).join("gone")).unwrap();
    assert!(meta.file_type().is_char_device() && meta.rdev() == 0);
}

// ---------------------------------------------------------------------
// Sharing and removing

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn layers_are_shared_and_removed_with_the_last_image_that_uses_them() {
    require_root!();
    let f = Fixture::new();
    let (lower, upper) = (lower_layer(), upper_layer());
    let base = f
        .store
        .import(&f.write("base.tar", &lower), Some("base"))
        .unwrap();
    let app = f
        .store
        .import(
            &f.write(
                "app.tar",
                &docker_save(&[lower.clone(), upper.clone()], json!({}), &["app:1"]),
            ),
            None,
        )
        .unwrap();
    let mut both = vec![hex(&sha(&lower)).to_string(), hex(&sha(&upper)).to_string()];
    both.sort();
    assert_eq!(f.ls("layers"), both, "the base's layer is stored once");
    assert_eq!(
        f.store
            .list()
            .unwrap()
            .iter()
            .map(|i| i.names.clone())
            .collect::<Vec<_>>(),
        [["app:1"], ["base:latest"]]
    );

    // A second name: removing one name only untags.
    f.store
        .import(&f.write("base2.tar", &lower), Some("base:2"))
        .unwrap();
    let untagged = f.store.remove("base", &[]).unwrap();
    assert_eq!(untagged.id, base.id);
    assert_eq!(f.store.find("base:2").unwrap().names, ["base:2"]);

    // In use: refused, naming the container.
    let in_use = [("web".to_string(), app.id.clone())];
    let error = f.store.remove("app:1", &in_use).unwrap_err();
    assert_eq!(
        error.to_string(),
        "image app:1 is used by the container web"
    );
    assert_eq!(
        error.hint().unwrap(),
        "remove the container first: `nslab rm web` (`nslab rm -f web` if it still runs)"
    );

    // The base goes; its layer stays, the app uses it.
    f.store.remove("base:2", &in_use).unwrap();
    assert_eq!(f.ls("layers").len(), 2);
    assert_eq!(in_overlay(&f.store, &app, "ls etc"), "keep\n");
    // The app goes: so do both layers.
    let removed = f.store.remove(&hex(&app.id)[..8], &[]).unwrap();
    assert_eq!(removed.id, app.id);
    assert_eq!(f.ls("layers"), Vec::<String>::new());
    assert_eq!(f.ls("images"), Vec::<String>::new());
    let error = f.store.find("app:1").unwrap_err();
    assert_eq!(
        error.hint().unwrap(),
        "`nslab image ls` lists them; `nslab image import FILE NAME` adds one"
    );
}

// ---------------------------------------------------------------------
// commit

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn commit_turns_an_upper_directory_into_a_layer_with_its_whiteouts() {
    require_root!();
    let f = Fixture::new();
    let parent = f
        .store
        .import(
            &f.write(
                "parent.tar",
                &docker_save(&[lower_layer()], json!({"Cmd": ["sh"]}), &["parent:1"]),
            ),
            None,
        )
        .unwrap();
    // An upper directory as overlayfs leaves it: a new file, a deleted one
    // (a 0/0 device), a directory made again (opaque).
    let upper = f.dir.path().join("upper");
    fs::create_dir_all(upper.join("etc")).unwrap();
    fs::write(upper.join("etc/added"), "added").unwrap();
    set_xattr(&upper.join("etc/added"), "user.note", b"kept");
    nix::sys::stat::mknod(
        &upper.join("etc/keep"),
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::empty(),
        0,
    )
    .unwrap();
    fs::create_dir(upper.join("data")).unwrap();
    fs::write(upper.join("data/fresh"), "fresh").unwrap();
    set_xattr(&upper.join("data"), "trusted.overlay.opaque", b"y");
    let config = ImageConfig {
        cmd: vec!["cat".into(), "/etc/added".into()],
        ..Default::default()
    };
    let image = f
        .store
        .commit(&upper, &parent, config.clone(), Some("child:1"))
        .unwrap();

    assert_eq!(image.names, ["child:1"]);
    assert_eq!(image.config, config);
    assert_eq!(image.layers.len(), 2);
    assert_eq!(image.layers[0], parent.layers[0]);
    assert!(
        image.created.ends_with('Z') && image.created.len() >= 20,
        "{}",
        image.created
    );
    assert_eq!(
        in_overlay(&f.store, &image, "ls etc; echo --; ls data; cat etc/added"),
        "added\npasswd\n--\nfresh\nadded"
    );
    let top = &f.store.layer_dirs(&image)[0];
    assert_eq!(get_xattr(&top.join("etc/added"), "user.note"), b"kept");
    assert_eq!(get_xattr(&top.join("data"), "trusted.overlay.opaque"), b"y");
    // The same, read back from the store.
    let found = f.store.find("child:1").unwrap();
    assert_eq!(
        (found.id, found.layers),
        (image.id.clone(), image.layers.clone())
    );
    // A device other than a whiteout cannot be committed.
    nix::sys::stat::mknod(
        &upper.join("null"),
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o666),
        nix::sys::stat::makedev(1, 3),
    )
    .unwrap();
    let error = f
        .store
        .commit(&upper, &parent, ImageConfig::default(), None)
        .unwrap_err();
    assert!(error.to_string().contains("device node (1/3)"), "{error}");
    assert_eq!(f.ls("tmp"), Vec::<String>::new());
}

/// setxattr(2).
fn set_xattr(path: &Path, name: &str, value: &[u8]) {
    let path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    let name = std::ffi::CString::new(name).unwrap();
    // SAFETY: NUL-terminated strings; the value's pointer and length match.
    let rc = unsafe {
        libc::setxattr(
            path.as_ptr(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
}

/// lgetxattr(2): the value, or empty when there is none.
fn get_xattr(path: &Path, name: &str) -> Vec<u8> {
    let path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    let name = std::ffi::CString::new(name).unwrap();
    let mut value = [0u8; 256];
    // SAFETY: NUL-terminated strings; the buffer's pointer and length match.
    let n = unsafe {
        libc::lgetxattr(
            path.as_ptr(),
            name.as_ptr(),
            value.as_mut_ptr().cast(),
            value.len(),
        )
    };
    value[..n.max(0) as usize].to_vec()
}

// ---------------------------------------------------------------------
// The built-in busybox

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn busybox_is_built_in_from_the_default_rootfs() {
    require_root!();
    nslab::narrate::init(true);
    let f = Fixture::new();
    let image = f.store.find("busybox").unwrap();
    assert_eq!(image.names, ["busybox:latest"]);
    assert_eq!(image.layers.len(), 1);
    let sh = f.store.layer_dirs(&image)[0].join("bin/sh");
    assert!(
        fs::symlink_metadata(&sh).is_ok(),
        "{} is missing",
        sh.display()
    );
    assert_eq!(image.config.cmd, ["sh"]);
    // Made once: the second time it is simply there.
    assert_eq!(f.store.find("busybox:latest").unwrap().id, image.id);
    assert_eq!(f.ls("images").len(), 1);
    assert_eq!(
        in_overlay(
            &f.store,
            &image,
            "./bin/sh -c 'echo hi from busybox' 2>&1 || ls bin | head -3"
        ),
        "hi from busybox\n"
    );
}

// ---------------------------------------------------------------------
// What a learner does to it: two at once, kill -9, odd input

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn imports_of_one_file_at_once_make_one_image() {
    require_root!();
    let f = Fixture::new();
    let file = f.write(
        "save.tar",
        &docker_save(&[lower_layer(), upper_layer()], json!({}), &["same:1"]),
    );
    let ids: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let (store, file) = (&f.store, &file);
                scope.spawn(move || store.import(file, Some(&format!("same:{i}"))).unwrap().id)
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(ids.iter().all(|id| *id == ids[0]));
    assert_eq!(f.ls("layers").len(), 2);
    assert_eq!(f.ls("images").len(), 1);
    assert_eq!(f.ls("tmp"), Vec::<String>::new());
    assert_eq!(
        f.store.find(&ids[0]).unwrap().names,
        ["same:0", "same:1", "same:2", "same:3"]
    );
}

/// The environment variable that turns [`import_in_a_child`] on.
const CHILD: &str = "NSLAB_TEST_IMAGE_IMPORT";

/// Not a test of its own: the tests below run it in child processes (this
/// test binary, re-executed), to kill one half-way or run several at once.
#[test]
#[ignore = "a helper: the tests of killed and concurrent imports run it"]
fn import_in_a_child() {
    let Ok(args) = std::env::var(CHILD) else {
        return;
    };
    let args: Vec<&str> = args.split('\n').collect();
    let [state, file, name] = args[..] else {
        panic!("{CHILD} holds the state directory, the file and the name, one a line");
    };
    ImageStore::open(Path::new(state))
        .unwrap()
        .import(Path::new(file), Some(name))
        .unwrap();
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn a_killed_import_leaves_only_what_the_next_one_removes() {
    require_root!();
    let f = Fixture::new();
    let big = big_layer(if cfg!(debug_assertions) { 64 } else { 256 } << 20);
    let file = f.write("big.tar", &big);
    let state = f.dir.path().join("state");
    let mut child = import_in_a_child_process(&state, &file, "killed");
    // Wait until it is extracting, then SIGKILL it.
    let started = Instant::now();
    let extracting = |f: &Fixture| {
        f.ls("tmp").iter().any(|n| {
            n.ends_with(".layer")
                && fs::read_dir(f.images().join("tmp").join(n))
                    .is_ok_and(|mut d| d.next().is_some())
        })
    };
    while !extracting(&f) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the import ended before it could be killed"
        );
        assert!(started.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    assert_eq!(
        f.ls("layers"),
        Vec::<String>::new(),
        "no half layer in place"
    );
    assert_eq!(f.ls("images"), Vec::<String>::new());
    assert!(f.store.find("killed").is_err());
    let left = f.ls("tmp");
    assert!(
        left.iter()
            .any(|n| n.starts_with(&format!("{}.", child.id()))),
        "{left:?}"
    );

    // The next import removes what the dead one left, and succeeds.
    let small = f.write("small.tar", &lower_layer());
    f.store.import(&small, Some("next")).unwrap();
    assert_eq!(f.ls("tmp"), Vec::<String>::new());
    assert_eq!(f.ls("layers").len(), 1);
}

/// Starts [`import_in_a_child`] in a new process.
fn import_in_a_child_process(state: &Path, file: &Path, name: &str) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["import_in_a_child", "--exact", "--ignored", "--nocapture"])
        .env(
            CHILD,
            format!("{}\n{}\n{name}", state.display(), file.display()),
        )
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn imports_in_several_processes_at_once_take_turns() {
    require_root!();
    // flock(2) is between open files, so threads of one process (the test
    // above) and separate processes are kept apart alike; this checks the
    // latter, which is what two terminals do.
    let f = Fixture::new();
    let file = f.write("export.tar", &big_layer(4 << 20));
    let state = f.dir.path().join("state");
    let children: Vec<_> = (0..3)
        .map(|i| import_in_a_child_process(&state, &file, &format!("p:{i}")))
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let images = f.store.list().unwrap();
    assert_eq!(images.len(), 1, "{images:?}");
    assert_eq!(images[0].names, ["p:0", "p:1", "p:2"]);
    assert_eq!(f.ls("layers").len(), 1);
    assert_eq!(f.ls("tmp"), Vec::<String>::new());
}

/// A layer tar of about `size` bytes of incompressible files: a few
/// hundred, mostly small, some large, as in a rootfs.
fn big_layer(size: usize) -> Vec<u8> {
    let mut tar = Tarball::new();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut random = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut total = 0;
    let mut i = 0;
    while total < size {
        let len = match random() % 20 {
            0 => 1 << 20,
            1..=5 => 8192 + (random() % (120 << 10)) as usize,
            _ => 1024 + (random() % 7168) as usize,
        };
        let data: Vec<u8> = (0..len.div_ceil(8))
            .flat_map(|_| random().to_le_bytes())
            .take(len)
            .collect();
        tar = tar.file_owned(&format!("d{}/f{i}", i % 64), &data, 0o644, 0, 0);
        total += len;
        i += 1;
    }
    tar.finish()
}

#[test]
fn a_missing_file_says_so_and_what_to_give() {
    let f = Fixture::new();
    let error = f
        .store
        .import(Path::new("/nonexistent/image.tar"), Some("x"))
        .unwrap_err();
    assert_eq!(error.to_string(), "failed to open /nonexistent/image.tar");
    assert!(
        error.hint().unwrap().contains("docker export"),
        "{:?}",
        error.hint()
    );
}

#[test]
fn a_file_that_is_not_a_tar_says_so() {
    let f = Fixture::new();
    for (name, bytes) in [
        ("notes.txt", &b"just some notes, not a tar\n".repeat(40)[..]),
        ("empty", b""),
    ] {
        let error = f
            .store
            .import(&f.write(name, bytes), Some("x"))
            .unwrap_err();
        assert!(
            matches!(error, ImageError::NotATar { .. }),
            "{name}: {error}"
        );
        assert!(
            error.to_string().ends_with("is not a tar archive"),
            "{error}"
        );
    }
    let error = f
        .store
        .import(
            &f.write("x.zst", &[0x28, 0xb5, 0x2f, 0xfd, 0, 0]),
            Some("x"),
        )
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("zstd compression, which is not supported"),
        "{error}"
    );
    f.assert_empty();
}

#[test]
fn a_docker_save_without_its_manifest_says_so() {
    let f = Fixture::new();
    let legacy = Tarball::new()
        .file("repositories", r#"{"old":{"latest":"abc"}}"#)
        .file_owned("abc/layer.tar", &lower_layer(), 0o644, 0, 0)
        .file("abc/VERSION", "1.0")
        .finish();
    let error = f
        .store
        .import(&f.write("legacy.tar", &legacy), None)
        .unwrap_err();
    assert!(
        error
            .to_string()
            .ends_with("looks like a `docker save` archive, but it has no manifest.json"),
        "{error}"
    );
    assert!(error.hint().unwrap().contains("newer docker"));
    f.assert_empty();
}

#[test]
fn odd_names_are_refused_before_anything_is_read() {
    let f = Fixture::new();
    let file = f.write("any.tar", b"not even read");
    for name in ["Upper", "a b", "../../etc", "app:", "x@sha256:00", ""] {
        let error = f.store.import(&file, Some(name)).unwrap_err();
        assert!(
            matches!(error, ImageError::BadReference { .. }),
            "{name:?}: {error}"
        );
        assert!(error.hint().unwrap().contains("lowercase"));
    }
    f.assert_empty();
}

// ---------------------------------------------------------------------
// How fast, next to tar -x

#[test]
#[ignore = "a benchmark: cargo test --release --test engine_image -- --ignored bench_import --nocapture"]
fn bench_import() {
    require_root!();
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let mb: usize = env("NSLAB_BENCH_MB")
        .and_then(|v| v.parse().ok())
        .unwrap_or(if cfg!(debug_assertions) { 8 } else { 100 });
    let runs: usize = env("NSLAB_BENCH_RUNS")
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    // On the disk the store is on, as the script does: /var/tmp.
    let work = tempfile::Builder::new()
        .prefix("nslab-bench-import")
        .tempdir_in("/var/tmp")
        .unwrap();
    // The script passes the tarball it made; otherwise one is made here.
    let file = match env("NSLAB_BENCH_FILE") {
        Some(file) => PathBuf::from(file),
        None => {
            let file = work.path().join("layer.tar");
            fs::write(&file, big_layer(mb << 20)).unwrap();
            file
        }
    };
    let size = fs::metadata(&file).unwrap().len();
    let mut tar_times = Vec::new();
    let mut import_times = Vec::new();
    for run in 0..runs {
        // Each starts with nothing left to write back from the one before.
        nix::unistd::sync();
        let dest = work.path().join(format!("tar-{run}"));
        fs::create_dir(&dest).unwrap();
        let started = Instant::now();
        let status = Command::new("tar")
            .arg("-xf")
            .arg(&file)
            .arg("-C")
            .arg(&dest)
            .status()
            .unwrap();
        tar_times.push(started.elapsed());
        assert!(status.success());

        nix::unistd::sync();
        let store = ImageStore::open(&work.path().join(format!("state-{run}"))).unwrap();
        let started = Instant::now();
        let image = store.import(&file, Some("bench")).unwrap();
        import_times.push(started.elapsed());
        assert_eq!(image.layers.len(), 1);
    }
    // And the import made what tar made: the same names, types, modes,
    // owners, mtimes, link targets and contents.
    let store = ImageStore::open(&work.path().join("state-0")).unwrap();
    let layer = store.layer_dirs(&store.find("bench").unwrap()).remove(0);
    let by_tar = work.path().join("tar-0");
    let (ours, tars) = (listing(&layer), listing(&by_tar));
    let differ: Vec<(&str, &str)> = ours
        .lines()
        .zip(tars.lines())
        .filter(|(a, b)| a != b)
        .take(10)
        .collect();
    assert!(
        differ.is_empty() && ours.len() == tars.len(),
        "import, then tar -x: {differ:#?}"
    );
    let diff = Command::new("diff")
        .arg("-r")
        .arg("--no-dereference")
        .arg(&by_tar)
        .arg(&layer)
        .output()
        .unwrap();
    assert!(
        diff.status.success(),
        "{}",
        String::from_utf8_lossy(&diff.stdout)
    );
    let best = |times: &[Duration]| times.iter().min().copied().unwrap();
    let (tar, import) = (best(&tar_times), best(&import_times));
    println!(
        "bench_import: a {:.0} MiB layer tarball, best of {runs}",
        size as f64 / 1048576.0
    );
    println!("  tar -xf             {:>8.1} ms", tar.as_secs_f64() * 1e3);
    println!(
        "  ImageStore::import  {:>8.1} ms   ({:.2} × tar)",
        import.as_secs_f64() * 1e3,
        import.as_secs_f64() / tar.as_secs_f64()
    );
}

/// Every path under `dir` with its type, mode, owner, mtime and link
/// target, sorted: what tar -x and an import must agree on. (Directories'
/// own mtimes are checked in the export test.)
fn listing(dir: &Path) -> String {
    let out = Command::new("sh")
        .arg("-c")
        // A directory's mtime is left out: one the tar only implies gets
        // the time it was made, which differs between the two.
        .arg(r#"cd "$1" && find . \( -type d -printf '%p d %m %U:%G\n' \) -o -printf '%p %y %m %U:%G %T@ %l\n' | sort"#)
        .arg("sh")
        .arg(dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}
