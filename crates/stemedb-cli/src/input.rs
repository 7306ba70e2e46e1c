//! Parsing import files (JSON Lines and CSV) into validated records, with
//! errors that name the line number and the field.

use std::fmt;

use serde_json::{Map, Value};
use stemedb_records::hlc::Hlc;
use stemedb_records::{SignedRecord, ValidationError, wire};

/// A problem with one input line: its 1-based line number and the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line number in the input file.
    pub line: u64,
    /// The offending field (JSON field path or CSV column), or `line`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}: {}", self.line, self.field, self.message)
    }
}

impl std::error::Error for LineError {}

impl LineError {
    /// A new error for `line` and `field`.
    pub fn new(line: u64, field: impl Into<String>, message: impl Into<String>) -> Self {
        LineError {
            line,
            field: field.into(),
            message: message.into(),
        }
    }

    fn from_validation(line: u64, e: ValidationError, csv: bool) -> Self {
        let field = if csv {
            csv_column_for(&e.field).to_owned()
        } else {
            e.field
        };
        LineError::new(line, field, format!("{} ({})", e.message, e.code))
    }
}

/// The input formats `import` understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON record per line, in the wire form (`kind` defaults to assertion).
    Jsonl,
    /// CSV with a header row naming the columns (listed below).
    Csv,
}

impl Format {
    /// Guesses the format from a file name: `.csv` is CSV, anything else JSON Lines.
    pub fn from_path(path: &std::path::Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("csv") => Format::Csv,
            _ => Format::Jsonl,
        }
    }
}

/// How lines are turned into records.
#[derive(Debug, Default)]
pub struct Prepare {
    /// Give unsigned lines without `timestamp` one from the local clock
    /// (otherwise such lines are rejected, keeping re-runs idempotent).
    pub assign_timestamps: bool,
    clock: Hlc,
}

const MISSING_TS: &str = "missing; every line needs a timestamp so that re-running the import \
                          yields the same record ids (pass --assign-timestamps to stamp such \
                          lines from the local clock instead)";

impl Prepare {
    /// Options with `assign_timestamps` as given.
    pub fn new(assign_timestamps: bool) -> Self {
        Prepare {
            assign_timestamps,
            clock: Hlc::new(),
        }
    }

    /// Parses and validates one JSON Lines line. Returns `Ok(None)` for a blank line.
    pub fn json_line(&self, line: u64, text: &str) -> Result<Option<SignedRecord>, LineError> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        let v: Value = serde_json::from_str(text)
            .map_err(|e| LineError::new(line, "line", format!("not valid JSON: {e}")))?;
        let Value::Object(map) = v else {
            return Err(LineError::new(line, "line", "must be a JSON object"));
        };
        self.finish(line, map, false).map(Some)
    }

    fn finish(
        &self,
        line: u64,
        mut map: Map<String, Value>,
        csv: bool,
    ) -> Result<SignedRecord, LineError> {
        let has_ts = map.get("timestamp").is_some_and(|t| !t.is_null());
        let signed = map.get("signature").is_some_and(|s| !s.is_null());
        if !has_ts && !signed {
            if !self.assign_timestamps {
                return Err(LineError::new(line, "timestamp", MISSING_TS));
            }
            map.insert("timestamp".into(), Value::from(self.clock.now()));
        }
        wire::parse_record(&Value::Object(map), &self.clock)
            .map_err(|e| LineError::from_validation(line, e, csv))
    }
}

/// CSV columns `import` understands, in the order they are documented.
pub const CSV_COLUMNS: [&str; 15] = [
    "subject",
    "predicate",
    "object_type",
    "value",
    "agent",
    "confidence",
    "timestamp",
    "source_uri",
    "source_class",
    "valid_from",
    "valid_to",
    "lifecycle",
    "parent",
    "epoch",
    "signature",
];

const CSV_REQUIRED: [&str; 4] = ["subject", "predicate", "value", "agent"];

/// Maps a record field path to the CSV column it came from.
fn csv_column_for(field: &str) -> &str {
    match field {
        "object.value" | "object" => "value",
        "object.type" => "object_type",
        "source.uri" => "source_uri",
        "source.class" => "source_class",
        other => other,
    }
}

/// The column positions of a CSV header row.
#[derive(Debug, Clone)]
pub struct CsvHeader {
    cols: Vec<(&'static str, usize)>,
}

impl CsvHeader {
    /// Reads the header row (line 1): unknown or duplicate columns and
    /// missing required ones are errors.
    pub fn parse(header: &csv::StringRecord) -> Result<Self, LineError> {
        let mut cols: Vec<(&'static str, usize)> = Vec::new();
        for (i, name) in header.iter().enumerate() {
            let name = name.trim().trim_start_matches('\u{feff}');
            let Some(known) = CSV_COLUMNS.iter().find(|c| **c == name) else {
                return Err(LineError::new(
                    1,
                    name,
                    format!(
                        "unknown column; expected some of: {}",
                        CSV_COLUMNS.join(",")
                    ),
                ));
            };
            if cols.iter().any(|(c, _)| c == known) {
                return Err(LineError::new(1, name, "duplicate column"));
            }
            cols.push((known, i));
        }
        for req in CSV_REQUIRED {
            if !cols.iter().any(|(c, _)| *c == req) {
                return Err(LineError::new(1, req, "required column is missing"));
            }
        }
        Ok(CsvHeader { cols })
    }

    fn get<'r>(&self, row: &'r csv::StringRecord, col: &str) -> Option<&'r str> {
        let (_, i) = self.cols.iter().find(|(c, _)| *c == col)?;
        row.get(*i).map(str::trim).filter(|s| !s.is_empty())
    }
}

impl Prepare {
    /// Converts one CSV data row (its 1-based `line`) into a validated record.
    pub fn csv_row(
        &self,
        header: &CsvHeader,
        line: u64,
        row: &csv::StringRecord,
    ) -> Result<SignedRecord, LineError> {
        let get = |c: &str| header.get(row, c);
        let req = |c: &str| get(c).ok_or_else(|| LineError::new(line, c, "is required"));
        let mut m = Map::new();
        m.insert("subject".into(), req("subject")?.into());
        m.insert("predicate".into(), req("predicate")?.into());
        m.insert("agent".into(), req("agent")?.into());
        let ty = get("object_type").unwrap_or("text");
        let raw = req("value")?;
        let value = match ty {
            "text" | "ref" => Value::from(raw),
            "number" => Value::from(parse_f64(line, "value", raw)?),
            "boolean" | "bool" => match raw.to_ascii_lowercase().as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => return Err(LineError::new(line, "value", "must be true or false")),
            },
            other => {
                return Err(LineError::new(
                    line,
                    "object_type",
                    format!("unknown object type {other:?}; expected text, number, boolean or ref"),
                ));
            }
        };
        let ty = if ty == "bool" { "boolean" } else { ty };
        m.insert(
            "object".into(),
            serde_json::json!({"type": ty, "value": value}),
        );
        if let Some(c) = get("confidence") {
            m.insert(
                "confidence".into(),
                parse_f64(line, "confidence", c)?.into(),
            );
        }
        for col in ["timestamp", "valid_from", "valid_to"] {
            if let Some(t) = get(col) {
                let t: i64 = t.parse().map_err(|_| {
                    LineError::new(line, col, "must be an integer (ms since the Unix epoch)")
                })?;
                m.insert(col.into(), t.into());
            }
        }
        match (get("source_uri"), get("source_class")) {
            (None, None) => {}
            (Some(uri), Some(class)) => {
                let class: u8 = class
                    .parse()
                    .map_err(|_| LineError::new(line, "source_class", "must be 0..=5"))?;
                m.insert(
                    "source".into(),
                    serde_json::json!({"uri": uri, "class": class}),
                );
            }
            (Some(_), None) => {
                return Err(LineError::new(
                    line,
                    "source_class",
                    "is required when source_uri is given",
                ));
            }
            (None, Some(_)) => {
                return Err(LineError::new(
                    line,
                    "source_uri",
                    "is required when source_class is given",
                ));
            }
        }
        for col in ["lifecycle", "parent", "epoch", "signature"] {
            if let Some(v) = get(col) {
                m.insert(col.into(), v.into());
            }
        }
        self.finish(line, m, true)
    }
}

fn parse_f64(line: u64, field: &str, s: &str) -> Result<f64, LineError> {
    s.parse::<f64>()
        .ok()
        .filter(|n| n.is_finite())
        .ok_or_else(|| LineError::new(line, field, "must be a finite number"))
}
