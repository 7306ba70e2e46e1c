//! The worked example of `docs/lenses.md`, built exactly as described there.
//! Every number in the document is asserted here so the two cannot drift.

mod common;

use common::{candidate, claim, text, vote};
use stemedb_lens::{Candidate, Lens, Resolution, SkepticStatus, TrustMap, resolve};
use stemedb_records::RecordId;

const S: &str = "drug:semaglutide";
const P: &str = "side_effect";
/// 2024-01-10T00:00:00Z.
const FDA_TS: i64 = 1_704_844_800_000;
/// 2023-06-01T00:00:00Z.
const TRIAL_A_TS: i64 = 1_685_577_600_000;
/// 2023-09-01T00:00:00Z.
const TRIAL_B_TS: i64 = 1_693_526_400_000;
/// 2024-02-01T00:00:00Z; forum post i is made i hours later.
const FORUM_TS: i64 = 1_706_745_600_000;
const HOUR: i64 = 3_600_000;

struct Example {
    set: Vec<Candidate>,
    trust: TrustMap,
    fda: RecordId,
    trial_b: RecordId,
    certain_post: RecordId,
    newest_post: RecordId,
}

fn example() -> Example {
    let mut set = Vec::new();
    // Class 0: the regulator, endorsed by a pharmacist's vote.
    let fda = candidate(claim(S, P, "nausea", "fda", 0.9, FDA_TS, Some(0)));
    let fda = {
        let id = fda.id;
        fda.with_votes(vec![vote(id, "pharmacist-ana", 1.0, FDA_TS + HOUR)])
    };
    let fda_id = fda.id;
    set.push(fda);
    // Class 1: two trials that disagree; trial B was published later.
    set.push(candidate(claim(
        S,
        P,
        "nausea",
        "trial-a",
        0.95,
        TRIAL_A_TS,
        Some(1),
    )));
    let trial_b = candidate(claim(
        S,
        P,
        "pancreatitis",
        "trial-b",
        0.85,
        TRIAL_B_TS,
        Some(1),
    ));
    let trial_b_id = trial_b.id;
    set.push(trial_b);
    // Class 5: forty forum posts by forty users: 7 nausea, 3 pancreatitis, 30 hair loss.
    let mut certain_post = None;
    let mut newest_post = None;
    for i in 0..40 {
        let value = match i {
            0..7 => "nausea",
            7..10 => "pancreatitis",
            _ => "hair loss",
        };
        // Post 7 is absolutely certain; everyone else is fairly sure.
        let confidence = if i == 7 { 1.0 } else { 0.6 };
        let agent = format!("forum-user-{i:02}");
        let c = candidate(claim(
            S,
            P,
            value,
            &agent,
            confidence,
            FORUM_TS + i * HOUR,
            Some(5),
        ));
        if i == 7 {
            certain_post = Some(c.id);
        }
        if i == 39 {
            newest_post = Some(c.id);
        }
        set.push(c);
    }
    let trust = TrustMap::new()
        .with("fda", 0.95)
        .with("trial-a", 0.8)
        .with("trial-b", 0.8);
    Example {
        set,
        trust,
        fda: fda_id,
        trial_b: trial_b_id,
        certain_post: certain_post.unwrap_or(RecordId([0; 32])),
        newest_post: newest_post.unwrap_or(RecordId([0; 32])),
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 5e-5
}

/// The explanation as (value, support, share rounded to 4 places, number of ids).
fn rows(r: &Resolution) -> Vec<(String, f64, f64, usize)> {
    r.explanation
        .iter()
        .map(|e| {
            let value = match &e.value {
                stemedb_records::Object::Text(t) => t.clone(),
                other => format!("{other:?}"),
            };
            let share = (e.share * 10_000.0).round() / 10_000.0;
            (value, e.support, share, e.ids.len())
        })
        .collect()
}

fn row(v: &str, support: f64, share: f64, ids: usize) -> (String, f64, f64, usize) {
    (v.to_owned(), support, share, ids)
}

#[test]
fn worked_example() {
    let ex = example();
    let run = |lens: Lens| resolve(lens, &ex.set, &ex.trust);
    assert_eq!(ex.set.len(), 43);

    // The explanation and conflict are the same under every lens.
    let overall = vec![
        row("hair loss", 30.0, 0.6818, 30),
        row("nausea", 10.0, 0.2273, 9),
        row("pancreatitis", 4.0, 0.0909, 4),
    ];
    for lens in Lens::ALL {
        let r = run(lens);
        assert_eq!(r.candidates, 43, "{lens}");
        assert_eq!(rows(&r), overall, "{lens}");
        assert!(close(r.conflict, 0.7426), "{lens}: {}", r.conflict);
    }

    // recency: the newest forum post.
    let r = run(Lens::Recency);
    assert_eq!(r.value, Some(text("hair loss")));
    assert_eq!(r.winners, vec![ex.newest_post]);
    assert!(close(r.confidence, 0.6));

    // authority: fda 0.95 × 0.9 = 0.855 beats trial-a 0.8 × 0.95 = 0.76.
    let r = run(Lens::Authority);
    assert_eq!(r.value, Some(text("nausea")));
    assert_eq!(r.winners, vec![ex.fda]);
    assert!(close(r.confidence, 0.855));
    // Without the regulator, trial-a (0.76) beats trial-b (0.68) and the forum (≤ 0.5).
    let no_fda: Vec<Candidate> = ex.set.iter().filter(|c| c.id != ex.fda).cloned().collect();
    let r = resolve(Lens::Authority, &no_fda, &ex.trust);
    assert_eq!(r.value, Some(text("nausea")));
    assert!(close(r.confidence, 0.76));
    let trials_b_and_forum: Vec<Candidate> = no_fda
        .iter()
        .filter(|c| c.assertion.agent != "trial-a")
        .cloned()
        .collect();
    let r = resolve(Lens::Authority, &trials_b_and_forum, &ex.trust);
    assert_eq!(r.winners, vec![ex.trial_b]);
    assert!(close(r.confidence, 0.68));

    // consensus: 30 of 44 units of support.
    let r = run(Lens::Consensus);
    assert_eq!(r.value, Some(text("hair loss")));
    assert_eq!(r.winners.len(), 30);
    assert!(close(r.confidence, 0.6818));

    // confidence: the one forum post at confidence 1.0.
    let r = run(Lens::Confidence);
    assert_eq!(r.value, Some(text("pancreatitis")));
    assert_eq!(r.winners, vec![ex.certain_post]);
    assert!(close(r.confidence, 1.0));

    // skeptic: top share 0.6818 < 0.75 → contested; confidence 1 − 0.7426.
    let r = run(Lens::Skeptic);
    assert_eq!(r.value, None);
    assert!(r.winners.is_empty());
    assert_eq!(r.status, Some(SkepticStatus::Contested));
    assert!(close(r.confidence, 0.2574));
    assert_eq!(r.to_json()["status"], "contested");

    // layered: class 0 answers; classes 0, 1 and 5 are reported.
    let r = run(Lens::Layered);
    assert_eq!(r.value, Some(text("nausea")));
    assert_eq!(r.winners, vec![ex.fda]);
    assert!(close(r.confidence, 1.0));
    let classes: Vec<u8> = r.classes.iter().map(|c| c.class).collect();
    assert_eq!(classes, vec![0, 1, 5]);

    let c0 = &r.classes[0].resolution;
    assert_eq!(c0.value, Some(text("nausea")));
    assert_eq!(rows(c0), vec![row("nausea", 2.0, 1.0, 1)]);
    assert!(close(c0.confidence, 1.0));
    assert!(close(c0.conflict, 0.0));

    let c1 = &r.classes[1].resolution;
    assert_eq!(c1.value, Some(text("pancreatitis")), "tie → newer trial");
    assert_eq!(c1.winners, vec![ex.trial_b]);
    assert_eq!(
        rows(c1),
        vec![row("nausea", 1.0, 0.5, 1), row("pancreatitis", 1.0, 0.5, 1)]
    );
    assert!(close(c1.confidence, 0.5));
    assert!(close(c1.conflict, 1.0));

    let c5 = &r.classes[2].resolution;
    assert_eq!(c5.value, Some(text("hair loss")));
    assert_eq!(
        rows(c5),
        vec![
            row("hair loss", 30.0, 0.75, 30),
            row("nausea", 7.0, 0.175, 7),
            row("pancreatitis", 3.0, 0.075, 3),
        ]
    );
    assert!(close(c5.confidence, 0.75));
    assert!(close(c5.conflict, 0.6509));
}
