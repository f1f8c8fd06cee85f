//! The OpenAPI document, merged from the enabled capabilities' parts of the route
//! table (each capability derives its part from its handlers' annotations), and a
//! small self-contained interactive docs page (no CDN, works offline).

use crate::Kavach;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use kavach_core::Options;
use utoipa::PartialSchema;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};

/// Render the document for these options (server URL = base URL + base path).
pub fn document(o: &Options) -> String {
    let doc = build(o);
    doc.to_json().unwrap_or_else(|e| format!("{{\"error\":\"the OpenAPI document does not serialise: {e}\"}}"))
}

/// The document as a value: the enabled capabilities' parts, every operation with its
/// security requirement (from the route table) and the error body as its `default` answer.
pub fn build(o: &Options) -> OpenApi {
    let mut doc = utoipa::openapi::OpenApiBuilder::new()
        .info(
            utoipa::openapi::InfoBuilder::new()
                .title("Kavach API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Authentication for humans and AI agents. Wire-compatible with better-auth 1.7 for the core endpoints. \
                     Errors are `{ code, message }`; the OAuth endpoints answer RFC 6749 errors `{ error, error_description }`.",
                ))
                .build(),
        )
        .build();
    for c in super::table::capabilities().iter().filter(|c| (c.enabled)(o)) {
        doc.merge((c.openapi)());
    }
    // Only the operations of routes that are served.
    let routes = super::table::routes(o);
    doc.paths.paths.retain(|path, item| {
        let served = |m: &axum::http::Method| routes.iter().any(|r| r.path == path && r.method == *m);
        use axum::http::Method;
        for (m, op) in [
            (Method::GET, &mut item.get),
            (Method::POST, &mut item.post),
            (Method::PUT, &mut item.put),
            (Method::DELETE, &mut item.delete),
            (Method::PATCH, &mut item.patch),
        ] {
            if !served(&m) {
                *op = None;
            }
        }
        item.get.is_some() || item.post.is_some() || item.put.is_some() || item.delete.is_some() || item.patch.is_some()
    });
    let error = ResponseBuilder::new()
        .description("An error: `{ code, message }` (OAuth endpoints: `{ error, error_description }`)")
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some::<RefOr<utoipa::openapi::schema::Schema>>(RefOr::T(
                    utoipa::openapi::schema::AnyOfBuilder::new()
                        .item(Ref::from_schema_name("ErrorBody"))
                        .item(Ref::from_schema_name("OAuthErrorBody"))
                        .build()
                        .into(),
                )))
                .build(),
        )
        .build();
    for (path, item) in doc.paths.paths.iter_mut() {
        let session = routes.iter().any(|r| r.path == path && r.access == super::table::Access::Session);
        for op in [&mut item.get, &mut item.post, &mut item.put, &mut item.delete, &mut item.patch].into_iter().flatten() {
            complete(op, &error, session);
        }
    }
    doc.servers = Some(vec![utoipa::openapi::Server::new(o.api_url(""))]);
    let cookie = if o.secure() { "__Secure-kavach.session_token" } else { "kavach.session_token" };
    let comps = doc.components.get_or_insert_with(Default::default);
    comps.add_security_scheme("cookie", SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(cookie))));
    comps.add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
    comps.schemas.insert("ErrorBody".into(), super::error::ErrorBody::schema());
    comps.schemas.insert("OAuthErrorBody".into(), super::plugins::oauth::OAuthErrorBody::schema());
    doc
}

/// Every operation answers errors with the error body, and one that needs a session
/// says which credentials carry it.
fn complete(op: &mut Operation, error: &utoipa::openapi::Response, session: bool) {
    op.responses.responses.entry("default".into()).or_insert_with(|| RefOr::T(error.clone()));
    for (status, r) in op.responses.responses.iter_mut() {
        // The guards in front of every handler (NUL characters, Origin, rate limits,
        // sessions) answer 4xx in JSON, also on routes whose own errors are pages.
        if let RefOr::T(r) = r
            && (status.starts_with('4') || status.starts_with('5'))
        {
            for (content_type, content) in &error.content {
                r.content.entry(content_type.clone()).or_insert_with(|| content.clone());
            }
        }
    }
    if session && op.security.is_none() {
        use utoipa::openapi::security::SecurityRequirement;
        op.security = Some(vec![SecurityRequirement::new("cookie", Vec::<String>::new()), SecurityRequirement::new("bearer", Vec::<String>::new())]);
    }
}

/// This document (generated from the code).
#[utoipa::path(get, path = "/openapi.json", tag = "meta", responses((status = 200, description = "OpenAPI 3.1", body = serde_json::Value)))]
pub async fn openapi_json(State(k): State<Kavach>) -> Response {
    let mut r = k.openapi_json().to_owned().into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// An interactive page to read and try the API (self-contained, no CDN).
#[utoipa::path(get, path = "/docs", tag = "meta", responses((status = 200, description = "HTML", content_type = "text/html", body = String)))]
pub async fn docs_page(State(k): State<Kavach>) -> Response {
    let spec = format!("{}/openapi.json", k.options().base_path.trim_end_matches('/'));
    let mut r = Html(DOCS.replace("{{SPEC}}", &super::pages::escape(&spec))).into_response();
    r.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'"),
    );
    r
}

const DOCS: &str = r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Kavach API</title>
<meta name="viewport" content="width=device-width,initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}
details{border:1px solid #ccc;border-radius:6px;margin:.5rem 0;padding:.5rem}summary{cursor:pointer}
.m{display:inline-block;width:4rem;font-weight:bold}.get{color:#06c}.post{color:#080}
textarea{width:100%;font-family:monospace;min-height:6rem}pre{background:#f4f4f4;padding:.5rem;overflow:auto}</style></head>
<body><h1>Kavach API</h1><p>Generated from <a href="{{SPEC}}">openapi.json</a>. Requests run in this browser, with its cookies.</p>
<div id="ops">Loading…</div>
<script>
fetch("{{SPEC}}").then(r=>r.json()).then(spec=>{
  const base=(spec.servers&&spec.servers[0].url)||"";const root=document.getElementById("ops");root.textContent="";
  for(const [path,item] of Object.entries(spec.paths)){for(const [method,op] of Object.entries(item)){
    const d=document.createElement("details");const s=document.createElement("summary");
    s.innerHTML=`<span class="m ${method}">${method.toUpperCase()}</span> <code></code> `;s.querySelector("code").textContent=path;
    s.append(op.summary||op.description||"");d.append(s);
    const ta=document.createElement("textarea");const body=op.requestBody;
    if(body){const sch=body.content&&body.content["application/json"]&&body.content["application/json"].schema;
      const ref=sch&&sch.$ref&&spec.components.schemas[sch.$ref.split("/").pop()];const ex={};
      if(ref&&ref.properties)for(const k of (ref.required||Object.keys(ref.properties)))ex[k]="";ta.value=JSON.stringify(ex,null,2);d.append(ta);}
    const q=document.createElement("input");q.placeholder="query string, e.g. token=...";q.style.width="100%";if(method==="get")d.append(q);
    const b=document.createElement("button");b.textContent="Send";const out=document.createElement("pre");
    b.onclick=async()=>{try{const url=base+path+(q.value?"?"+q.value:"");const init={method:method.toUpperCase(),credentials:"include",headers:{}};
      if(body){init.headers["content-type"]="application/json";init.body=ta.value;}
      const r=await fetch(url,init);out.textContent=r.status+" "+r.statusText+"\n"+await r.text();}catch(e){out.textContent=String(e);}};
    d.append(b,out);root.append(d);}}
}).catch(e=>{document.getElementById("ops").textContent="Could not load the API description: "+e;});
</script></body></html>"#;
