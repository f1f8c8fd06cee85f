// One browser for the client scripts: a cookie jar around fetch, sending the page's
// Origin (Kavach checks it on cookie-carrying writes), keeping the cookies answers set
// and dropping the ones they expire.
export function cookieFetch(origin) {
  const jar = new Map();
  async function fetchWithCookies(input, init = {}) {
    const headers = new Headers(init.headers || {});
    if (jar.size) headers.set("cookie", [...jar].map(([k, v]) => `${k}=${v}`).join("; "));
    headers.set("origin", origin);
    const res = await fetch(input, { ...init, headers });
    for (const c of res.headers.getSetCookie()) {
      const [pair, ...attrs] = c.split(";");
      const i = pair.indexOf("=");
      const name = pair.slice(0, i).trim(), value = pair.slice(i + 1).trim();
      const expired = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a));
      if (expired || value === "") jar.delete(name); else jar.set(name, value);
    }
    return res;
  }
  return { jar, fetchWithCookies };
}
