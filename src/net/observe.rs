//! What lesson 06 shows about the network from the host: the devices nslab
//! made there, before and after the run.

use super::netlink::Netlink;
use super::NetError;
use crate::narrate;

/// The host's links whose names start with `nslab`: the bridge and the
/// host ends of veth pairs. Asked without narration: it is the lesson
/// looking, not the container being set up.
pub fn nslab_links() -> Result<Vec<String>, NetError> {
    let mut names: Vec<String> = Netlink::open()?
        .link_names()?
        .into_iter()
        .filter(|name| name.starts_with("nslab"))
        .collect();
    names.sort();
    Ok(names)
}

/// Shows the host's nslab links under `heading`.
pub fn show_host_links(heading: &str) -> Result<Vec<String>, NetError> {
    narrate::heading(heading);
    let links = nslab_links()?;
    if links.is_empty() {
        narrate::observe("nslab devices", "none");
    } else {
        narrate::observe("nslab devices", links.join(" "));
    }
    Ok(links)
}

/// After the run: the host's nslab links should be what they were before
/// it. Returns true when they are.
pub fn show_host_unchanged(before: &[String]) -> Result<bool, NetError> {
    let after = show_host_links("The host's network devices, after the run")?;
    if after == before {
        narrate::success(
            "the host has the nslab devices it had before the run: nothing left behind",
        );
        Ok(true)
    } else {
        narrate::warning(format!(
            "before the run: {}; now: {} (another container may have started or ended meanwhile)",
            if before.is_empty() {
                "none".to_string()
            } else {
                before.join(" ")
            },
            if after.is_empty() {
                "none".to_string()
            } else {
                after.join(" ")
            },
        ));
        Ok(false)
    }
}
