//! Checks the test vectors of `docs/canonical-encoding.md` against the
//! implementation: JSON → canonical bytes and id, and bytes → record.

use stemedb_records::hlc::Hlc;
use stemedb_records::{canonical, sign, wire};

struct Vector {
    title: String,
    json: String,
    hex: String,
    id: String,
}

/// Collects the lines of a fenced block whose opening fence is `open`,
/// starting the search at `*i`. Returns `None` at the end of the document.
fn fenced(lines: &[&str], i: &mut usize, open: &str) -> Option<String> {
    while *i < lines.len() && lines[*i].trim() != open {
        *i += 1;
    }
    if *i >= lines.len() {
        return None;
    }
    *i += 1;
    let mut body = Vec::new();
    while *i < lines.len() && lines[*i].trim() != "```" {
        body.push(lines[*i]);
        *i += 1;
    }
    assert!(*i < lines.len(), "unterminated {open} block");
    *i += 1;
    Some(body.join("\n"))
}

/// Skips blank and prose lines up to the next non-blank line.
fn next_non_blank<'a>(lines: &[&'a str], i: &mut usize) -> Option<&'a str> {
    while *i < lines.len() && lines[*i].trim().is_empty() {
        *i += 1;
    }
    lines.get(*i).copied()
}

fn vectors() -> Vec<Vector> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/canonical-encoding.md"
    );
    let doc = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let start = doc
        .find("\n## Test vectors")
        .expect("the document has a '## Test vectors' section");
    let lines: Vec<&str> = doc[start..].lines().collect();
    let mut out = Vec::new();
    let mut title = String::new();
    let mut i = 0;
    loop {
        // Remember the latest heading so failures name the vector.
        let json_at = lines[i..]
            .iter()
            .position(|l| l.trim() == "```json")
            .map(|p| p + i);
        let Some(json_at) = json_at else { break };
        if let Some(h) = lines[i..json_at]
            .iter()
            .rev()
            .find(|l| l.starts_with("### "))
        {
            title = h.trim_start_matches('#').trim().to_owned();
        }
        i = json_at;
        let json = fenced(&lines, &mut i, "```json").unwrap();
        assert_eq!(
            next_non_blank(&lines, &mut i).map(str::trim),
            Some("```hex"),
            "vector {title:?}: the json block must be followed by a hex block"
        );
        let hex_block = fenced(&lines, &mut i, "```hex").unwrap();
        let hex: String = hex_block.split_whitespace().collect();
        let id_line = next_non_blank(&lines, &mut i)
            .unwrap_or_else(|| panic!("vector {title:?}: missing id line"));
        let id = id_line
            .trim()
            .strip_prefix("id: ")
            .unwrap_or_else(|| panic!("vector {title:?}: expected 'id: <hex>', got {id_line:?}"))
            .trim()
            .to_owned();
        i += 1;
        out.push(Vector {
            title: title.clone(),
            json,
            hex,
            id,
        });
    }
    out
}

#[test]
fn document_vectors_match_the_implementation() {
    let vectors = vectors();
    assert!(
        vectors.len() >= 5,
        "expected at least 5 test vectors, found {}",
        vectors.len()
    );
    for v in &vectors {
        let t = &v.title;
        assert_eq!(v.id.len(), 64, "{t}: id is 64 hex characters");
        assert_eq!(
            v.hex,
            v.hex.to_lowercase(),
            "{t}: canonical hex is lowercase"
        );
        let value: serde_json::Value =
            serde_json::from_str(&v.json).unwrap_or_else(|e| panic!("{t}: bad JSON: {e}"));
        let rec = wire::parse_record(&value, &Hlc::new())
            .unwrap_or_else(|e| panic!("{t}: JSON does not parse as a record: {e}"));
        assert_eq!(
            hex::encode(rec.canonical()),
            v.hex,
            "{t}: canonical bytes differ"
        );
        assert_eq!(rec.id().to_hex(), v.id, "{t}: id differs");
        sign::verify(&rec).unwrap_or_else(|e| panic!("{t}: signature: {e}"));

        let bytes = hex::decode(&v.hex).unwrap_or_else(|e| panic!("{t}: bad hex: {e}"));
        let decoded =
            canonical::decode(&bytes).unwrap_or_else(|e| panic!("{t}: bytes do not decode: {e}"));
        assert_eq!(&decoded, rec.record(), "{t}: decoded record differs");
        assert_eq!(
            canonical::encode(&decoded),
            bytes,
            "{t}: re-encoding differs"
        );
        assert_eq!(decoded.id().to_hex(), v.id, "{t}: id of decoded record");
    }
}

#[test]
fn vectors_cover_every_kind_and_optional_field() {
    use stemedb_records::{Kind, Object, Record};
    let mut kinds = Vec::new();
    let mut full_assertion = false;
    let mut signed = false;
    for v in vectors() {
        let value: serde_json::Value = serde_json::from_str(&v.json).unwrap();
        let rec = wire::parse_record(&value, &Hlc::new()).unwrap();
        signed |= rec.signature().is_some();
        kinds.push(rec.record().kind());
        if let Record::Assertion(a) = rec.record() {
            let negative_zero =
                value["object"]["value"].as_f64().map(f64::to_bits) == Some((-0.0f64).to_bits());
            full_assertion |= a.source.is_some()
                && a.valid_from.is_some()
                && a.valid_to.is_some()
                && a.lifecycle != Default::default()
                && a.parent.is_some()
                && a.epoch.is_some()
                && matches!(a.object, Object::Number(_))
                && negative_zero;
        }
    }
    for k in Kind::ALL {
        assert!(kinds.contains(&k), "no vector of kind {k:?}");
    }
    assert!(
        full_assertion,
        "no assertion vector with every optional field and -0.0"
    );
    assert!(signed, "no signed vector");
}
