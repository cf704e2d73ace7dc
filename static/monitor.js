/* Every phone a monitor. The public page works without this script; with it, the phone keeps
   the newest checkpoint it has seen (localStorage), and on each visit fetches the log's current
   checkpoint, checks its Ed25519 signature with the key this phone pinned on its first visit
   (WebCrypto), asks the log for an RFC 9162 consistency proof from the remembered checkpoint and
   checks it here. A failure shows a warning and offers to report it. No third-party code. */
(function () {
  "use strict";
  var box = document.getElementById("monitor");
  if (!box || !window.crypto || !crypto.subtle || !window.fetch || !window.localStorage || !window.TextEncoder) return;
  var STORE = "trace.monitor.v1";
  var zh = (document.documentElement.lang || "").indexOf("zh") === 0;
  // The words come from the page (the server's one catalogue, in the reader's language).
  function word(name) { return box.getAttribute("data-t-" + name) || name; }
  var T = {ok: word("ok"), first: word("first"), bad: word("bad"), badsig: word("badsig"), why: word("why"),
           report: word("report")};
  var enc = new TextEncoder();

  function b64(s) {
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  function b64s(bytes) {
    var s = "";
    for (var i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s);
  }
  function concat() {
    var n = 0, i, parts = arguments;
    for (i = 0; i < parts.length; i++) n += parts[i].length;
    var out = new Uint8Array(n), at = 0;
    for (i = 0; i < parts.length; i++) { out.set(parts[i], at); at += parts[i].length; }
    return out;
  }
  function equal(a, b) {
    if (a.length !== b.length) return false;
    for (var i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  function sha256(bytes) {
    return crypto.subtle.digest("SHA-256", bytes).then(function (d) { return new Uint8Array(d); });
  }
  function node(l, r) { return sha256(concat(new Uint8Array([1]), l, r)); }
  function fail(why) { var e = new Error(why); e.monitor = true; throw e; }
  function get(url) {
    return fetch(url, {cache: "no-store", credentials: "omit"}).then(function (r) {
      if (!r.ok) fail("HTTP " + r.status + " " + url);
      return r.text();
    });
  }

  // signed-note verifier key name+hex8+base64(0x01 || key); key ID = SHA-256(name LF 0x01 key)[:4].
  function parseKey(vkey) {
    var i = vkey.indexOf("+"), j = vkey.indexOf("+", i + 1);
    var name = vkey.slice(0, i), raw = b64(vkey.slice(j + 1));
    if (raw.length !== 33 || raw[0] !== 1) fail("bad verifier key");
    return sha256(concat(enc.encode(name + "\n"), raw)).then(function (h) {
      if (Array.prototype.map.call(h.slice(0, 4), function (x) { return ("0" + x.toString(16)).slice(-2); }).join("") !== vkey.slice(i + 1, j))
        fail("verifier key ID does not match");
      return {name: name, id: h.slice(0, 4), pub: raw.slice(1)};
    });
  }

  // A checkpoint note: text up to the last blank line, then '— name base64(keyID || sig)' lines.
  function verifyCheckpoint(note, vkey) {
    var cut = note.lastIndexOf("\n\n");
    if (cut < 0) fail("the checkpoint is not a signed note");
    var text = note.slice(0, cut + 1), lines = note.slice(cut + 2).split("\n");
    var fields = text.split("\n");
    var cp = {origin: fields[0], size: parseInt(fields[1], 10), root: b64(fields[2]), text: text};
    if (!/^(0|[1-9][0-9]*)$/.test(fields[1]) || cp.root.length !== 32) fail("malformed checkpoint");
    return parseKey(vkey).then(function (k) {
      var sig = null;
      lines.forEach(function (line) {
        var sp = line.indexOf(" ", 2);
        if (line.indexOf("\u2014 ") !== 0 || line.slice(2, sp) !== k.name) return;
        var raw = b64(line.slice(sp + 1));
        if (equal(raw.slice(0, 4), k.id)) sig = raw.slice(4);
      });
      if (!sig) fail("the checkpoint carries no signature by the log's key");
      return crypto.subtle.importKey("raw", k.pub, {name: "Ed25519"}, false, ["verify"]).then(function (key) {
        return crypto.subtle.verify({name: "Ed25519"}, key, sig, enc.encode(text));
      }).then(function (ok) {
        if (!ok) fail("the checkpoint's signature is not valid");
        return cp;
      });
    });
  }

  // RFC 9162 section 2.1.4.2, step by step.
  function verifyConsistency(first, second, firstHash, secondHash, proof) {
    if (first === second) return Promise.resolve(proof.length === 0 && equal(firstHash, secondHash));
    if (first === 0 || first > second || proof.length === 0) return Promise.resolve(false);
    var path = proof.slice();
    if ((first & (first - 1)) === 0) path.unshift(firstHash);
    var fn = first - 1, sn = second - 1;
    while (fn & 1) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
    var fr = path[0], sr = path[0], i = 1;
    function step() {
      if (i >= path.length) return Promise.resolve(sn === 0 && equal(fr, firstHash) && equal(sr, secondHash));
      var c = path[i++];
      if (sn === 0) return Promise.resolve(false);
      var next;
      if ((fn & 1) || fn === sn) {
        next = Promise.all([node(c, fr), node(c, sr)]).then(function (h) {
          fr = h[0]; sr = h[1];
          while (fn !== 0 && !(fn & 1)) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
        });
      } else {
        next = node(sr, c).then(function (h) { sr = h; });
      }
      return next.then(function () { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); return step(); });
    }
    return step();
  }

  function proof(old, size) {
    return get(box.getAttribute("data-consistency") + "?old=" + old + "&size=" + size).then(function (t) {
      return JSON.parse(t).proof.map(b64);
    });
  }

  function show(kind, message, detail) {
    box.hidden = false;
    box.className = "card monitor monitor-" + kind;
    box.textContent = "";
    var p = document.createElement("p");
    p.className = kind === "bad" ? "bad" : "ok";
    p.textContent = (kind === "bad" ? "! " : "\u2713 ") + message;
    box.appendChild(p);
    if (detail) {
      var d = document.createElement("p");
      d.className = "muted small";
      d.textContent = T.why + detail;
      box.appendChild(d);
    }
    if (kind === "bad") {
      var a = document.createElement("a");
      a.className = "button";
      a.href = box.getAttribute("data-report") + "?code=" + encodeURIComponent("log:" + (detail || ""));
      a.textContent = T.report;
      box.appendChild(a);
    }
  }
  function fmt(s, saved) {
    return s.replace("{date}", new Date(saved.seen).toLocaleDateString(zh ? "zh-CN" : "en")).replace("{n}", saved.size);
  }
  function remember(cp, vkey) {
    var saved = {origin: cp.origin, size: cp.size, root: b64s(cp.root), vkey: vkey, seen: Date.now()};
    localStorage.setItem(STORE, JSON.stringify(saved));
    return saved;
  }

  function run() {
    var saved = null;
    try { saved = JSON.parse(localStorage.getItem(STORE) || "null"); } catch (e) { saved = null; }
    var keyed = saved && saved.vkey ? Promise.resolve(saved.vkey)
      : get(box.getAttribute("data-key")).then(function (k) { return k.trim(); });
    return keyed.then(function (vkey) {
      return get(box.getAttribute("data-checkpoint")).then(function (note) {
        return verifyCheckpoint(note, vkey);
      }).then(function (cp) {
        if (!saved || saved.origin !== cp.origin) {
          show("ok", fmt(T.first, remember(cp, vkey)));
          return;
        }
        var oldRoot = b64(saved.root), check;
        if (cp.size > saved.size) {
          check = proof(saved.size, cp.size).then(function (p) { return verifyConsistency(saved.size, cp.size, oldRoot, cp.root, p); });
        } else if (cp.size === saved.size) {
          check = Promise.resolve(equal(oldRoot, cp.root));
        } else {  // an older checkpoint: it must be a prefix of the one this phone saw
          check = proof(cp.size, saved.size).then(function (p) { return verifyConsistency(cp.size, saved.size, cp.root, oldRoot, p); });
        }
        return check.then(function (ok) {
          if (!ok) fail(cp.size === saved.size ? "another tree of the same size" :
                        "the consistency proof from " + Math.min(cp.size, saved.size) + " to " + Math.max(cp.size, saved.size) + " entries does not verify");
          show("ok", fmt(T.ok, saved));
          if (cp.size > saved.size) remember(cp, vkey);
        });
      });
    }).catch(function (e) {
      if (!e || !e.monitor) return;  // offline or a script error: the server-side checks stand
      show("bad", saved ? fmt(T.bad, saved) : T.badsig, e.message);
    });
  }
  run();
})();
