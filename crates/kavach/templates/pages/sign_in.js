// The hosted sign-in page's script (crates/kavach/templates/pages/sign_in.html), for the
// methods that need one; the page's Content Security Policy allows it by its hash.
// Passkey ([passkey]): the options from /passkey/generate-authenticate-options,
// navigator.credentials.get, the answer posted with the form (method=passkey, response;
// bytes as base64url). Wallet ([siwe]): the page's EIP-1193 provider (window.ethereum)
// gives the account and chain, /siwe/nonce the nonce, the wallet signs the EIP-4361
// message, the form posts both (method=siwe). One Tap ([one_tap]): Google's library,
// given a nonce from /one-tap/nonce, hands over the ID token, posted as credential
// (method=one-tap).
(() => {
  const post = async (url) => (await fetch(url, { method: "POST", credentials: "same-origin", headers: { "content-type": "application/json" }, body: "{}" })).json();
  const pk = document.getElementById("passkey-form");
  if (pk && !window.PublicKeyCredential) pk.hidden = true;
  else if (pk) {
    const dec = (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
    const enc = (b) => btoa(String.fromCharCode(...new Uint8Array(b))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    pk.addEventListener("submit", async (ev) => {
      if (pk.elements.response.value) return;
      ev.preventDefault();
      try {
        const o = await (await fetch(pk.dataset.options, { credentials: "same-origin" })).json();
        o.challenge = dec(o.challenge);
        (o.allowCredentials || []).forEach((c) => { c.id = dec(c.id); });
        const c = await navigator.credentials.get({ publicKey: o });
        const r = c.response;
        pk.elements.response.value = JSON.stringify({ id: c.id, rawId: enc(c.rawId), type: c.type, response: {
          clientDataJSON: enc(r.clientDataJSON), authenticatorData: enc(r.authenticatorData), signature: enc(r.signature),
          userHandle: r.userHandle ? enc(r.userHandle) : null } });
        pk.submit();
      } catch (e) { document.getElementById("passkey-error").textContent = "The passkey sign-in did not complete: " + e.message; }
    });
  }
  const sw = document.getElementById("siwe-form");
  if (sw && !window.ethereum) sw.hidden = true;
  else if (sw) {
    sw.addEventListener("submit", async (ev) => {
      if (sw.elements.signature.value) return;
      ev.preventDefault();
      try {
        const [address] = await window.ethereum.request({ method: "eth_requestAccounts" });
        const chainId = parseInt(await window.ethereum.request({ method: "eth_chainId" }), 16);
        const { nonce } = await post(sw.dataset.nonce);
        const message = `${sw.dataset.domain} wants you to sign in with your Ethereum account:\n${address.toLowerCase()}\n\n` +
          `Sign in to ${sw.dataset.domain}\n\nURI: ${sw.dataset.uri}\nVersion: 1\nChain ID: ${chainId}\nNonce: ${nonce}\nIssued At: ${new Date().toISOString()}`;
        const hex = "0x" + Array.from(new TextEncoder().encode(message), (b) => b.toString(16).padStart(2, "0")).join("");
        sw.elements.signature.value = await window.ethereum.request({ method: "personal_sign", params: [hex, address] });
        sw.elements.message.value = message;
        sw.submit();
      } catch (e) { document.getElementById("siwe-error").textContent = "The wallet sign-in did not complete: " + e.message; }
    });
  }
  const ot = document.getElementById("one-tap-form");
  if (ot) {
    const start = async () => {
      try {
        const { nonce } = await post(ot.dataset.nonce);
        google.accounts.id.initialize({ client_id: ot.dataset.clientId, nonce, callback: (r) => { ot.elements.credential.value = r.credential; ot.submit(); } });
        google.accounts.id.renderButton(document.getElementById("one-tap-button"), { type: "standard" });
        google.accounts.id.prompt();
      } catch (e) { document.getElementById("one-tap-error").textContent = "Google sign-in is not available: " + e.message; }
    };
    if (window.google && window.google.accounts) start(); else document.getElementById("gsi").addEventListener("load", start);
  }
})();
