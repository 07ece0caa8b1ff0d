//! `--zone FILE` for `postern spf` and `postern check`: an offline zone, read from a JSON zone
//! file, or from an RFC 1035 master file when the name ends in `.zone`.

use std::path::Path;

use postern_dns::Zone;

/// Loads the zone file at `path`. A master file is read as bytes, so that its TXT strings
/// may hold octets that are not UTF-8 (RFC 1035 §5.1), and its `$INCLUDE` files are read
/// relative to its directory (an absolute name as it is); a JSON zone must be UTF-8 (RFC 8259
/// §8.1).
///
/// # Errors
/// A message naming the file: it cannot be read, or it is not a zone of its format.
pub(crate) fn load(path: &Path) -> Result<Zone, String> {
    let bytes = std::fs::read(path)
        .map_err(|e| format!("cannot read zone file {}: {e}", path.display()))?;
    let bad = |problem: String| format!("bad zone file {}: {problem}", path.display());
    let is_master = path
        .extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("zone"));
    if is_master {
        let dir = path.parent().unwrap_or_else(|| Path::new(""));
        let include = |file: &str| std::fs::read(dir.join(file)).map_err(|e| e.to_string());
        return Zone::from_master_bytes_with_includes(&bytes, None, include)
            .map_err(|e| bad(e.to_string()));
    }
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        bad(format!(
            "a JSON zone must be UTF-8 (invalid byte at offset {})",
            e.valid_up_to()
        ))
    })?;
    Zone::from_json(text).map_err(|e| bad(e.to_string()))
}
