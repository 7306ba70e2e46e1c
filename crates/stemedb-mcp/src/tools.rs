//! The eight tools, written once over a [`Backend`]. Every result is JSON
//! (structured content, also sent as text) that carries the record ids an
//! agent cites; every failure is a tool error `{"error": {"code", "message",
//! "field", "status"}}` with the server's code and field, or `invalid_param`
//! and the argument's name when the check before sending refused it.

use std::sync::Arc;

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, Extensions};
use rmcp::{ErrorData, ServerHandler, tool, tool_handler, tool_router};
use serde_json::{Value, json};
use stemedb_records::limits::{AGENT_MAX, PREDICATE_MAX, REASON_MAX, SUBJECT_MAX};

use crate::backend::{ApiRequest, Backend, ToolError, encode_component};
use crate::inputs::{
    AssertClaimInput, CompareLensesInput, FindConflictsInput, LensName, ListSubjectsInput,
    QueryClaimsInput, RetractClaimInput, TraceClaimInput, VoteClaimInput, check_id, check_limit,
    check_range, check_text,
};

/// What agents are told about this server when they connect.
pub const INSTRUCTIONS: &str = "StemeDB stores claims, not facts: every write is an immutable \
assertion by a named agent, and reads resolve disagreements at read time through a lens \
(recency, authority, consensus, confidence, skeptic, layered). Use assert_claim to record what \
you learned (with a source when you have one), query_claims to read the current answer with the \
ids of the winning assertions, compare_lenses to see whether the answer depends on the rule, \
find_conflicts to list contested facts under a subject prefix, trace_claim to see a claim's \
lineage and votes, vote_claim to endorse or dispute, retract_claim to withdraw your own claim. \
Cite the returned ids. Errors carry the server's code and the offending field.";

/// The StemeDB MCP server: the tools over backend `B`.
pub struct StemeTools<B: Backend> {
    backend: Arc<B>,
}

impl<B: Backend> Clone for StemeTools<B> {
    fn clone(&self) -> Self {
        StemeTools {
            backend: self.backend.clone(),
        }
    }
}

/// The `Authorization` header of the HTTP request that carried this call, if any.
fn authorization(ext: &Extensions) -> Option<String> {
    ext.get::<http::request::Parts>()
        .and_then(|p| p.headers.get(http::header::AUTHORIZATION))
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn finish(r: Result<Value, ToolError>) -> Result<CallToolResult, ErrorData> {
    Ok(match r {
        Ok(v) => CallToolResult::structured(v),
        Err(e) => CallToolResult::structured_error(e.to_json()),
    })
}

fn push(q: &mut Vec<(String, String)>, k: &str, v: Option<impl ToString>) {
    if let Some(v) = v {
        q.push((k.to_owned(), v.to_string()));
    }
}

/// The resolution of the first result of a `/v1/query` answer.
fn first_resolution(answer: &Value) -> Value {
    answer["results"]
        .get(0)
        .map_or(Value::Null, |r| r["resolution"].clone())
}

#[tool_router]
impl<B: Backend> StemeTools<B> {
    /// Tools over `backend`.
    pub fn new(backend: B) -> Self {
        StemeTools {
            backend: Arc::new(backend),
        }
    }

    async fn call(&self, req: ApiRequest, ext: &Extensions) -> Result<Value, ToolError> {
        self.backend.call(req, authorization(ext)).await
    }

    async fn assert_impl(&self, a: AssertClaimInput, ext: &Extensions) -> Result<Value, ToolError> {
        let body = a.to_body()?;
        let out = self.call(ApiRequest::post("/v1/assert", body), ext).await?;
        Ok(json!({"id": out["id"], "status": out["status"],
                  "subject": a.subject, "predicate": a.predicate}))
    }

    /// Record a claim: an immutable assertion by `agent` that `subject`'s
    /// `predicate` is `value`. Returns its id (content-addressed: the same
    /// claim twice gives the same id and status "exists").
    #[tool(
        description = "Record a claim: agent says subject.predicate = value (optionally with confidence and a source). Returns the assertion id to cite; the same claim again returns status \"exists\" with the same id."
    )]
    pub async fn assert_claim(
        &self,
        Parameters(a): Parameters<AssertClaimInput>,
        ext: Extensions,
    ) -> Result<CallToolResult, ErrorData> {
        finish(self.assert_impl(a, &ext).await)
    }

    async fn query_impl(&self, a: QueryClaimsInput, ext: &Extensions) -> Result<Value, ToolError> {
        check_text("subject", &a.subject, SUBJECT_MAX)?;
        if let Some(p) = &a.predicate {
            check_text("predicate", p, PREDICATE_MAX)?;
        }
        if a.source_class.is_some_and(|c| c > 6) {
            return Err(ToolError::invalid("source_class", "must be in 0..=6"));
        }
        check_limit(a.limit, 10_000)?;
        let lens = a.lens.unwrap_or(LensName::Consensus);
        let mut q = vec![
            ("subject".to_owned(), a.subject.clone()),
            ("lens".to_owned(), lens.as_str().to_owned()),
        ];
        push(&mut q, "predicate", a.predicate.as_ref());
        push(&mut q, "as_of", a.as_of);
        push(&mut q, "agent", a.agent.as_ref());
        push(&mut q, "source_class", a.source_class);
        push(&mut q, "include_retracted", a.include_retracted);
        push(&mut q, "limit", a.limit);
        push(&mut q, "cursor", a.cursor.as_ref());
        self.call(ApiRequest::get("/v1/query", q), ext).await
    }

    /// Read the claims about a subject (and predicate) resolved by a lens.
    #[tool(
        description = "Read what is claimed about a subject (one predicate or all), resolved by a lens (default consensus), optionally as of a past time. Each result has the winning value, the winning assertion ids, confidence, conflict (0 = agreement, 1 = evenly split), an explanation of every value with its support and ids, and the candidate assertions."
    )]
    pub async fn query_claims(
        &self,
        Parameters(a): Parameters<QueryClaimsInput>,
        ext: Extensions,
    ) -> Result<CallToolResult, ErrorData> {
        finish(self.query_impl(a, &ext).await)
    }

    async fn compare_impl(
        &self,
        a: CompareLensesInput,
        ext: &Extensions,
    ) -> Result<Value, ToolError> {
        check_text("subject", &a.subject, SUBJECT_MAX)?;
        check_text("predicate", &a.predicate, PREDICATE_MAX)?;
        let mut lenses = Vec::new();
        let mut candidates = Value::Null;
        for lens in LensName::ALL {
            let mut q = vec![
                ("subject".to_owned(), a.subject.clone()),
                ("predicate".to_owned(), a.predicate.clone()),
                ("lens".to_owned(), lens.as_str().to_owned()),
                ("limit".to_owned(), "10000".to_owned()),
            ];
            push(&mut q, "as_of", a.as_of);
            let answer = self.call(ApiRequest::get("/v1/query", q), ext).await?;
            if candidates.is_null() {
                candidates = answer["results"]
                    .get(0)
                    .map_or(json!([]), |r| r["candidates"].clone());
            }
            lenses.push(first_resolution(&answer));
        }
        Ok(json!({
            "subject": a.subject,
            "predicate": a.predicate,
            "as_of": a.as_of,
            "lenses": lenses,
            "candidates": candidates,
        }))
    }

    /// All six lenses side by side for one subject and predicate.
    #[tool(
        description = "Resolve one subject.predicate under all six lenses (recency, authority, consensus, confidence, skeptic, layered) side by side, with each lens's winning value, winner ids, confidence and conflict, plus the candidate assertions. Use it to see whether the answer depends on the rule."
    )]
    pub async fn compare_lenses(
        &self,
        Parameters(a): Parameters<CompareLensesInput>,
        ext: Extensions,
    ) -> Result<CallToolResult, ErrorData> {
        finish(self.compare_impl(a, &ext).await)
    }

    async fn conflicts_impl(
        &self,
        a: FindConflictsInput,
        ext: &Extensions,
    ) -> Result<Value, ToolError> {
        if let Some(m) = a.min_conflict {
            check_range("min_conflict", m, 0.0, 1.0)?;
        }
        check_limit(a.limit, 1_000)?;
        let mut q = Vec::new();
        push(&mut q, "prefix", a.prefix.as_ref());
        push(&mut q, "min_conflict", a.min_conflict);
        push(&mut q, "lens", a.lens.map(LensName::as_str));
        push(&mut q, "as_of", a.as_of);
        push(&mut q, "limit", a.limit);
        push(&mut q, "cursor", a.cursor.as_ref());
        self.call(ApiRequest::get("/v1/conflicts", q), ext).await
    }

    /// Contested (subject, predicate) pairs under a prefix.
    #[tool(
        description = "List contested facts: (subject, predicate) pairs under a subject prefix whose conflict is above 0 and at least min_conflict, each with its resolution (winners, explanation ids). Walks only the prefix's subjects; when next_cursor is not null, call again with it to continue."
    )]
    pub async fn find_conflicts(
        &self,
        Parameters(a): Parameters<FindConflictsInput>,
        ext: Extensions,
    ) -> Result<CallToolResult, ErrorData> {
        finish(self.conflicts_impl(a, &ext).await)
    }

    async fn trace_impl(&self, a: TraceClaimInput, ext: &Extensions) -> Result<Value, ToolError> {
        check_id("id", &a.id)?;
        let path = format!("/v1/trace/{}", encode_component(&a.id));
        self.call(ApiRequest::get(path, Vec::new()), ext).await
    }

    /// Lineage of a record.
    #[tool(
        description = "Show a record's lineage: the record, its parent chain, children (revisions), votes, retraction and epoch."
    )]
    pub async fn trace_claim(
        &self,
        Parameters(a): Parameters<TraceClaimInput>,
        ext: Extensions,
    ) -> Result<CallToolResult, ErrorData> {
        finish(self.trace_impl(a, &ext).await)
    }

    async fn retract_impl(
        &self,
        a: RetractClaimInput,
        ext: &Extensions,
    ) -> Result<Value, ToolError> {
        check_id("id", &a.id)?;
        check_text("agent", &a.agent, AGENT_MAX)?;
        let mut body = json!({"target": a.id, "agent": a.agent});
        if let Some(r) = &a.reason {
            check_text("reason", r, REASON_MAX)?;
            body["reason"] = json!(r);
        }
        self.annotate("/v1/retract", body, &a.id, ext).await
    }

    /// Withdraw one's own assertion.
    #[tool(
        description = "Withdraw an assertion you made (agent must be its author). Lenses ignore it from then on; it stays visible to time travel before the retraction. Returns the retraction's id."
    )]
    pub async fn retract_claim(
        &self,
        Parameters(a): Parameters<RetractClaimInput>,
        ext: Extensions,
    ) -> Result<CallToolResult, ErrorData> {
        finish(self.retract_impl(a, &ext).await)
    }

    async fn vote_impl(&self, a: VoteClaimInput, ext: &Extensions) -> Result<Value, ToolError> {
        check_id("id", &a.id)?;
        check_text("agent", &a.agent, AGENT_MAX)?;
        check_range("weight", a.weight, -1.0, 1.0)?;
        let body = json!({"target": a.id, "agent": a.agent, "weight": a.weight});
        self.annotate("/v1/vote", body, &a.id, ext).await
    }

    /// Posts a retraction or vote of `target`; its id and status, and the target.
    async fn annotate(
        &self,
        path: &str,
        body: Value,
        target: &str,
        ext: &Extensions,
    ) -> Result<Value, ToolError> {
        let out = self.call(ApiRequest::post(path, body), ext).await?;
        Ok(json!({"id": out["id"], "status": out["status"], "target": target}))
    }

    /// Endorse or dispute an assertion.
    #[tool(
        description = "Endorse (weight > 0) or dispute (weight < 0) an assertion, weight in [-1, 1]. Votes add to the support of the assertion's value under the consensus lens. Returns the vote's id."
    )]
    pub async fn vote_claim(
        &self,
        Parameters(a): Parameters<VoteClaimInput>,
        ext: Extensions,
    ) -> Result<CallToolResult, ErrorData> {
        finish(self.vote_impl(a, &ext).await)
    }

    async fn subjects_impl(
        &self,
        a: ListSubjectsInput,
        ext: &Extensions,
    ) -> Result<Value, ToolError> {
        check_limit(a.limit, 10_000)?;
        let mut q = Vec::new();
        push(&mut q, "prefix", a.prefix.as_ref());
        push(&mut q, "limit", a.limit);
        push(&mut q, "cursor", a.cursor.as_ref());
        self.call(ApiRequest::get("/v1/subjects", q), ext).await
    }

    /// Subjects in byte order under a prefix.
    #[tool(
        description = "List subjects in byte order, optionally under a prefix, a page at a time (pass next_cursor back as cursor)."
    )]
    pub async fn list_subjects(
        &self,
        Parameters(a): Parameters<ListSubjectsInput>,
        ext: Extensions,
    ) -> Result<CallToolResult, ErrorData> {
        finish(self.subjects_impl(a, &ext).await)
    }
}

#[tool_handler(
    name = "stemedb",
    instructions = "StemeDB stores claims, not facts: every write is an immutable \
assertion by a named agent, and reads resolve disagreements at read time through a lens \
(recency, authority, consensus, confidence, skeptic, layered). Use assert_claim to record what \
you learned (with a source when you have one), query_claims to read the current answer with the \
ids of the winning assertions, compare_lenses to see whether the answer depends on the rule, \
find_conflicts to list contested facts under a subject prefix, trace_claim to see a claim's \
lineage and votes, vote_claim to endorse or dispute, retract_claim to withdraw your own claim. \
Cite the returned ids. Errors carry the server's code and the offending field."
)]
impl<B: Backend> ServerHandler for StemeTools<B> {}
