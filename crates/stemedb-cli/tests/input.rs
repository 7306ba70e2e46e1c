//! JSON Lines and CSV parsing: valid lines become the same records the server
//! would build; bad lines are reported with their line number and field.

use serde_json::json;
use stemedb_cli::input::{CsvHeader, Format, LineError, Prepare};
use stemedb_records::{Object, wire};

fn csv_rows(text: &str) -> (CsvHeader, Vec<csv::StringRecord>) {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let header = CsvHeader::parse(rdr.headers().unwrap()).unwrap();
    let rows = rdr.records().map(Result::unwrap).collect();
    (header, rows)
}

fn csv_one(text: &str) -> Result<stemedb_records::SignedRecord, LineError> {
    let (header, rows) = csv_rows(text);
    let row = &rows[0];
    Prepare::new(false).csv_row(&header, row.position().unwrap().line(), row)
}

#[test]
fn jsonl_line_matches_server_parse_and_kind_defaults_to_assertion() {
    let v = json!({"subject": "s", "predicate": "p", "object": {"type": "number", "value": 2.5},
                   "agent": "a", "timestamp": 1_700_000_000_000i64});
    let rec = Prepare::new(false)
        .json_line(1, &v.to_string())
        .unwrap()
        .unwrap();
    let direct = wire::parse_record(&v, &Default::default()).unwrap();
    assert_eq!(rec.id(), direct.id());
    // An exported line (with kind, id) parses back to the same record.
    let exported = wire::to_json(&rec).to_string();
    let again = Prepare::new(false)
        .json_line(7, &exported)
        .unwrap()
        .unwrap();
    assert_eq!(again.canonical(), rec.canonical());
    assert_eq!(Prepare::new(false).json_line(3, "   \n").unwrap(), None);
}

#[test]
fn jsonl_errors_name_line_and_field() {
    let p = Prepare::new(false);
    let e = p.json_line(4, "{not json").unwrap_err();
    assert_eq!((e.line, e.field.as_str()), (4, "line"));
    let e = p.json_line(5, "[1,2]").unwrap_err();
    assert_eq!((e.line, e.field.as_str()), (5, "line"));
    let bad_conf = r#"{"subject":"s","predicate":"p","object":{"type":"text","value":"v"},"agent":"a","timestamp":1,"confidence":"high"}"#;
    let e = p.json_line(9, bad_conf).unwrap_err();
    assert_eq!((e.line, e.field.as_str()), (9, "confidence"));
    assert!(e.to_string().starts_with("line 9: confidence:"), "{e}");
    let bad_type = r#"{"subject":"s","predicate":"p","object":{"type":"date","value":"v"},"agent":"a","timestamp":1}"#;
    assert_eq!(p.json_line(2, bad_type).unwrap_err().field, "object.type");
    let unknown = r#"{"subject":"s","predicate":"p","object":{"type":"text","value":"v"},"agent":"a","timestamp":1,"colour":1}"#;
    assert_eq!(p.json_line(2, unknown).unwrap_err().field, "colour");
}

#[test]
fn missing_timestamp_is_rejected_unless_assigned() {
    let line =
        r#"{"subject":"s","predicate":"p","object":{"type":"text","value":"v"},"agent":"a"}"#;
    let e = Prepare::new(false).json_line(12, line).unwrap_err();
    assert_eq!((e.line, e.field.as_str()), (12, "timestamp"));
    assert!(e.message.contains("--assign-timestamps"));
    let rec = Prepare::new(true).json_line(12, line).unwrap().unwrap();
    assert!(rec.record().timestamp() > 1_600_000_000_000);
}

#[test]
fn csv_rows_with_defaults_and_all_columns() {
    let rec =
        csv_one("subject,predicate,value,agent\ndrug:x,side_effect,nausea,fda\n").unwrap_err();
    // No timestamp column: rejected for idempotency, on data line 2.
    assert_eq!((rec.line, rec.field.as_str()), (2, "timestamp"));

    let text = "subject,predicate,object_type,value,agent,confidence,timestamp,source_uri,source_class\n\
                drug:x,dose_mg,number,-0.5,fda,0.8,1700000000000,https://x/y,1\n";
    let rec = csv_one(text).unwrap();
    let a = rec.record().as_assertion().unwrap();
    assert_eq!(a.object, Object::Number(-0.5));
    assert_eq!(a.confidence, 0.8);
    assert_eq!(a.timestamp, 1_700_000_000_000);
    let src = a.source.as_ref().unwrap();
    assert_eq!((src.uri.as_str(), src.class), ("https://x/y", 1));

    let rec = csv_one("subject,predicate,value,agent,timestamp\ns,p,\"a, quoted\",a,5\n").unwrap();
    assert_eq!(
        rec.record().as_assertion().unwrap().object,
        Object::Text("a, quoted".into())
    );
    let rec =
        csv_one("subject,predicate,object_type,value,agent,timestamp\ns,p,boolean,TRUE,a,5\n")
            .unwrap();
    assert_eq!(
        rec.record().as_assertion().unwrap().object,
        Object::Boolean(true)
    );
}

#[test]
fn csv_errors_name_line_and_column() {
    let (header, rows) = csv_rows(
        "subject,predicate,object_type,value,agent,confidence,timestamp,source_uri,source_class\n\
         s,p,text,v,a,1,1,,\n\
         s,p,number,abc,a,1,1,,\n\
         s,p,text,v,a,2.5,1,,\n\
         s,p,text,v,a,1,yesterday,,\n\
         s,p,text,v,a,1,1,http://u,\n\
         s,p,text,v,a,1,1,http://u,9\n\
         s,,text,v,a,1,1,,\n\
         s,p,colour,v,a,1,1,,\n",
    );
    let prep = Prepare::new(false);
    let got: Vec<(u64, String)> = rows
        .iter()
        .map(|r| {
            let line = r.position().unwrap().line();
            match prep.csv_row(&header, line, r) {
                Ok(_) => (line, "ok".into()),
                Err(e) => (e.line, e.field),
            }
        })
        .collect();
    let want: Vec<(u64, String)> = [
        (2, "ok"),
        (3, "value"),
        (4, "confidence"),
        (5, "timestamp"),
        (6, "source_class"),
        (7, "source_class"),
        (8, "predicate"),
        (9, "object_type"),
    ]
    .into_iter()
    .map(|(l, f)| (l, f.to_owned()))
    .collect();
    assert_eq!(got, want);
}

#[test]
fn csv_header_errors_are_on_line_one() {
    let mut rdr = csv::Reader::from_reader("subject,predicate,value\n".as_bytes());
    let e = CsvHeader::parse(rdr.headers().unwrap()).unwrap_err();
    assert_eq!((e.line, e.field.as_str()), (1, "agent"));
    let mut rdr = csv::Reader::from_reader("subject,predicate,value,agent,color\n".as_bytes());
    let e = CsvHeader::parse(rdr.headers().unwrap()).unwrap_err();
    assert_eq!((e.line, e.field.as_str()), (1, "color"));
}

#[test]
fn format_is_guessed_from_extension() {
    assert_eq!(Format::from_path("a/b.CSV".as_ref()), Format::Csv);
    assert_eq!(Format::from_path("a/b.jsonl".as_ref()), Format::Jsonl);
    assert_eq!(Format::from_path("noext".as_ref()), Format::Jsonl);
}
