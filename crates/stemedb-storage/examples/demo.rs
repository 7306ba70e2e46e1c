//! Writes three contradicting claims into `./stemedb-data` (or the directory
//! given as the first argument), reads them back, and prints what recovery did.
//! Run: `cargo run --release -p stemedb-storage --example demo`

use serde_json::json;
use stemedb_records::{hlc::Hlc, wire};
use stemedb_storage::{Store, StoreConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "./stemedb-data".into());
    let store = Store::open(StoreConfig::new(&dir))?;
    println!("opened {dir}: {:?}", store.open_report());
    let clock = Hlc::new();
    let claims = [
        ("fda", "nausea"),
        ("trial-1", "nausea"),
        ("forum", "hair loss"),
    ];
    let mut records = Vec::new();
    for (agent, value) in claims {
        records.push(wire::parse_assertion(
            &json!({"subject": "drug:semaglutide", "predicate": "side_effect",
                    "object": {"type": "text", "value": value}, "agent": agent}),
            &clock,
        )?);
    }
    for r in store.append(records)? {
        let a = r?;
        println!("{} {}", a.status.as_str(), a.id);
    }
    for e in store.subject_entries("drug:semaglutide", Some("side_effect"))? {
        let rec = store.read_at(e.pos)?;
        println!("{}", wire::to_json(&rec));
    }
    Ok(())
}
