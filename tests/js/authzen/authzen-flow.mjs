// Kavach as an OpenID AuthZEN Authorization API 1.0 (final, openid.net/specs/authorization-api-1_0.html)
// Policy Decision Point, asked by an agent about itself. No AuthZEN client library is published
// on npm, so this is plain fetch against the spec's own request and response shapes.
//   PDP=http://127.0.0.1:…/api/kavach AGENT_KEY=… AGENT_ID=… node authzen-flow.mjs
// The agent may call tools/call on tool:search and read docs:**, but not read docs:secret:**
// (an explicit deny). Kavach reads an AuthZEN resource {type,id} as `${type}:${id}`.
import assert from 'node:assert/strict';

const { PDP, AGENT_KEY, AGENT_ID } = process.env;
for (const [k, v] of Object.entries({ PDP, AGENT_KEY, AGENT_ID })) if (!v) throw new Error(`${k} is required`);

let failed = 0;
const check = async (name, fn) => {
  try { await fn(); console.log(`PASS ${name}`); } catch (e) { failed++; console.log(`FAIL ${name}: ${e.message.replace(/\s*\n\s*/g, ' ')}`); }
};
const eq = (got, want) => assert.deepEqual(got, want, `got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);

const getJson = async (url) => {
  const res = await fetch(url);
  assert.equal(res.status, 200, `GET ${url}`);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  return res.json();
};
// POST a JSON body; `auth: false` leaves out the Authorization header.
const post = async (url, body, { auth = true, headers = {} } = {}) => {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(auth && { authorization: `Bearer ${AGENT_KEY}` }), ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, json, text };
};

// Metadata ("Obtaining Policy Decision Point Metadata"): the well-known string is inserted
// between the host and the path; Kavach also serves it under its base path.
const base = new URL(PDP);
const wellKnown = {
  'path-inserted': `${base.origin}/.well-known/authzen-configuration${base.pathname.replace(/\/$/, '')}`,
  'under base path': `${PDP}/.well-known/authzen-configuration`,
};
let md = {
  access_evaluation_endpoint: `${PDP}/access/v1/evaluation`,
  access_evaluations_endpoint: `${PDP}/access/v1/evaluations`,
};
for (const [how, url] of Object.entries(wellKnown)) {
  await check(`metadata (${how})`, async () => {
    const doc = await getJson(url);
    assert.equal(doc.policy_decision_point, PDP, 'policy_decision_point');
    assert.ok(doc.access_evaluation_endpoint, 'access_evaluation_endpoint is required');
    assert.ok(doc.access_evaluations_endpoint, 'access_evaluations_endpoint');
    for (const [k, v] of Object.entries(doc).filter(([k]) => k.endsWith('_endpoint'))) {
      assert.ok(new URL(v).href.startsWith(`${PDP}/`), `${k} = ${v} is not an absolute URL under PDP`);
    }
    md = doc;
  });
}

const subject = { type: 'agent', id: AGENT_ID };
const req = {
  1: { action: { name: 'tools/call' }, resource: { type: 'tool', id: 'search' } },
  2: { action: { name: 'tools/call' }, resource: { type: 'tool', id: 'delete_everything' } },
  3: { action: { name: 'read' }, resource: { type: 'docs', id: 'public:readme' } },
  4: { action: { name: 'read' }, resource: { type: 'docs', id: 'secret:plans' } },
};
const decide = async (body, opts) => {
  const r = await post(md.access_evaluation_endpoint, body, opts);
  assert.equal(r.status, 200, r.text);
  assert.equal(typeof r.json?.decision, 'boolean', r.text);
  return r;
};
// The decisions of a batch with the top-level subject as the default.
const batch = async (items, semantic) => {
  const body = { subject, evaluations: items.map((i) => req[i]), ...(semantic && { options: { evaluations_semantic: semantic } }) };
  const r = await post(md.access_evaluations_endpoint, body);
  assert.equal(r.status, 200, r.text);
  assert.ok(Array.isArray(r.json?.evaluations), r.text);
  return r.json.evaluations.map((e) => e.decision);
};

await check('1 tools/call tool:search is permitted', async () => {
  eq((await decide({ subject, ...req[1] })).json.decision, true);
});
await check('2 tools/call tool:delete_everything is denied', async () => {
  eq((await decide({ subject, ...req[2] })).json.decision, false);
});
await check('3 read docs:public:readme is permitted', async () => {
  eq((await decide({ subject, ...req[3] })).json.decision, true);
});
await check('4 read docs:secret:plans is denied (explicit deny wins)', async () => {
  eq((await decide({ subject, ...req[4] })).json.decision, false);
});
await check('5 evaluations, default semantic (execute_all)', async () => {
  eq(await batch([1, 2, 3, 4]), [true, false, true, false]);
});
// Short-circuit semantics: the spec's examples return the evaluations up to and including the
// one that decided, nothing after it.
await check('6 evaluations, deny_on_first_deny stops at the first deny', async () => {
  eq(await batch([1, 2, 3, 4], 'deny_on_first_deny'), [true, false]);
});
await check('7 evaluations, permit_on_first_permit stops at the first permit', async () => {
  eq(await batch([2, 1, 3], 'permit_on_first_permit'), [false, true]);
});
await check('8 asking about another agent is 403', async () => {
  const r = await post(md.access_evaluation_endpoint, { subject: { type: 'agent', id: `${AGENT_ID}-other` }, ...req[1] });
  assert.equal(r.status, 403, r.text);
});
await check('9 no Authorization is 401 with WWW-Authenticate', async () => {
  const r = await post(md.access_evaluation_endpoint, { subject, ...req[1] }, { auth: false });
  assert.equal(r.status, 401, r.text);
  assert.ok(r.headers.get('www-authenticate'), 'WWW-Authenticate (SHOULD)');
});
await check('10 X-Request-ID is echoed (MUST)', async () => {
  const id = crypto.randomUUID();
  const r = await decide({ subject, ...req[3] }, { headers: { 'x-request-id': id } });
  eq(r.headers.get('x-request-id'), id);
});
await check('11 a request without resource is 400', async () => {
  const r = await post(md.access_evaluation_endpoint, { subject, action: { name: 'read' } });
  assert.equal(r.status, 400, r.text);
});

// Search ("Search APIs"): the searched-for entity gives only its type; results are
// {name} for actions and {type, id} for resources; an empty next_token ends the pages.
await check('12 action search: read on docs:public:readme, nothing on docs:secret:plans (deny wins)', async () => {
  assert.ok(md.search_action_endpoint, 'search_action_endpoint in the metadata');
  const r = await post(md.search_action_endpoint, { subject, resource: { type: 'docs', id: 'public:readme' } });
  assert.equal(r.status, 200, r.text);
  eq(r.json.results, [{ name: 'read' }]);
  eq(r.json.page?.next_token, '');
  const d = await post(md.search_action_endpoint, { subject, resource: { type: 'docs', id: 'secret:plans' } });
  eq(d.json.results, []);
});
await check('13 resource search: tools/call on tools finds tool:search', async () => {
  assert.ok(md.search_resource_endpoint, 'search_resource_endpoint in the metadata');
  const r = await post(md.search_resource_endpoint, { subject, action: { name: 'tools/call' }, resource: { type: 'tool' } });
  assert.equal(r.status, 200, r.text);
  eq(r.json.results, [{ type: 'tool', id: 'search' }]);
  const none = await post(md.search_resource_endpoint, { subject, action: { name: 'tools/call' }, resource: { type: 'unknown' } });
  eq(none.json.results, []);
});

process.exit(failed ? 1 : 0);
