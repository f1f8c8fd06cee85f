//! The OpenAPI document, generated from the handlers' annotations, and a small
//! self-contained interactive docs page (no CDN, works offline).

use super::routes;
use crate::Kavach;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use kavach_core::Options;
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};

#[derive(OpenApi)]
#[openapi(
    info(title = "Kavach API", description = "Authentication for humans and AI agents. Wire-compatible with better-auth 1.7 for the core endpoints. Errors are `{ code, message }`."),
    paths(
        routes::sign_up, routes::sign_in, routes::get_session, routes::sign_out, routes::list_sessions,
        routes::revoke_session, routes::revoke_sessions, routes::revoke_other_sessions, routes::update_user,
        routes::change_password, routes::change_email, routes::send_verification_email, routes::verify_email,
        routes::request_password_reset, routes::reset_password, routes::delete_user, routes::jwks, routes::token,
    ),
    components(schemas(kavach_core::User, kavach_core::Session, kavach_core::SessionWithUser)),
    tags((name = "email-password"), (name = "session"), (name = "user"), (name = "jwt")),
)]
struct ApiDoc;

/// Render the document for these options (server URL = base URL + base path).
pub fn document(o: &Options) -> String {
    let mut doc = ApiDoc::openapi();
    doc.servers = Some(vec![utoipa::openapi::Server::new(o.api_url(""))]);
    let cookie = if o.secure() { "__Secure-kavach.session_token" } else { "kavach.session_token" };
    let comps = doc.components.get_or_insert_with(Default::default);
    comps.add_security_scheme("cookie", SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(cookie))));
    comps.add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
    doc.to_json().expect("the OpenAPI document serialises")
}

pub async fn openapi_json(State(k): State<Kavach>) -> Response {
    let mut r = k.openapi_json().to_owned().into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

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
