/* Package codes by camera: progressive enhancement of the textarea rendered by
 * templates/portal/_scan.html (macro scan_codes).
 *
 * Without script the textarea is simply typed into, one code per line. With script a "scan with
 * camera" button opens the (rear) camera and reads QR codes continuously: each package code found
 * is appended to the textarea once, as the full text that was scanned, so the server parses it
 * exactly as if it had been typed. The textarea stays the one source of truth: the running count
 * and the list (each line with a remove button) are drawn from it, also while the clerk types.
 *
 * Decoding: the browser's own BarcodeDetector when it reads QR codes (Chrome on Android, Safari on
 * macOS), else the vendored ZXing-C++ WebAssembly build (static/vendor/zxing-wasm), loaded from
 * this site only when the camera is first started. Its .wasm needs 'wasm-unsafe-eval' in the
 * page's script-src; nothing here needs 'unsafe-inline' or 'unsafe-eval'.
 *
 * Every text shown comes from the wrapper's data-t-* attributes, which the template renders
 * through gettext; the English below is only a last resort when an attribute is missing.
 */
(function () {
  "use strict";
  if (window.traceScan) {
    window.traceScan.enhanceAll();
    return;
  }

  var FALLBACK = {
    start: "Scan with camera",
    stop: "Stop scanning",
    starting: "Starting the camera…",
    scanning: "Point the camera at a package's QR code. Each code is added once.",
    added: "Added: {code}",
    again: "Already in the list: {code}",
    notOurs: "Not a package code: {code}",
    stopped: "Camera stopped.",
    count: "Package codes in the list: {n}",
    remove: "Remove {code}",
    noCamera: "No camera was found. Type the codes instead.",
    denied: "Camera permission was refused. Allow the camera in the browser's settings, or type the codes.",
    busy: "The camera is in use by another app. Close it and try again, or type the codes.",
    insecure: "The camera works only on a secure (https) page. Type the codes instead.",
    failed: "The camera could not be started. Type the codes instead.",
    decoder: "The QR decoder could not be loaded. Type the codes instead."
  };

  // Package serials: 20 characters of Crockford's base32 (no I, L, O, U); see trace/domain/codes.py.
  var SERIAL = /^[0-9A-HJKMNP-TV-Z]{20}$/;
  var SHORT_PATH = /^\/p\/([0-9A-Za-z]{20})\/?$/;
  // GS1 Digital Link: /01/{gtin}[/10/{lot}]/21/{serial}
  var GS1_PATH = /^\/01\/(\d{14})(?:\/10\/[^/]{1,60})?\/21\/([0-9A-Za-z]{20})\/?$/;
  var SCAN_EVERY_MS = 120;
  var MAX_SIDE = 960; // frames are scaled down to this before decoding
  var HIT_MS = 700; // how long the green confirmation shows
  var GONE_MS = 1500; // a removed code may be scanned again once out of view this long

  /** The package serial a line or a scanned text names, upper case; null when it names none. */
  function codeKey(text) {
    var t = String(text || "").trim();
    if (!t) return null;
    if (t.length === 20 && SERIAL.test(t.toUpperCase())) return t.toUpperCase();
    if (!/^https?:\/\//i.test(t)) return null;
    var url;
    try {
      url = new URL(t);
    } catch (e) {
      return null;
    }
    var m = SHORT_PATH.exec(url.pathname) || GS1_PATH.exec(url.pathname);
    if (!m) return null;
    var serial = m[m.length - 1].toUpperCase();
    return SERIAL.test(serial) ? serial : null;
  }

  function shorten(text) {
    var t = String(text).replace(/\s+/g, " ").trim();
    return t.length > 60 ? t.slice(0, 57) + "…" : t;
  }

  // ---------------------------------------------------------------------------- decoders

  var decoderPromise = null;

  /** A function canvas -> Promise<[text]>: native BarcodeDetector if it reads QR, else ZXing. */
  function getDecoder(root) {
    if (!decoderPromise) {
      decoderPromise = nativeDecoder().then(function (native) {
        return native || zxingDecoder(root.getAttribute("data-decoder"), root.getAttribute("data-wasm"));
      });
      decoderPromise.catch(function () {
        decoderPromise = null; // let a later press try again
      });
    }
    return decoderPromise;
  }

  function nativeDecoder() {
    if (typeof window.BarcodeDetector !== "function" || typeof window.BarcodeDetector.getSupportedFormats !== "function") {
      return Promise.resolve(null);
    }
    return window.BarcodeDetector.getSupportedFormats().then(function (formats) {
      if (formats.indexOf("qr_code") < 0) return null;
      var detector = new window.BarcodeDetector({ formats: ["qr_code"] });
      var decode = function (canvas) {
        return detector.detect(canvas).then(function (found) {
          return found.map(function (b) { return b.rawValue; });
        });
      };
      decode.kind = "native";
      return decode;
    }, function () { return null; });
  }

  function loadScript(src) {
    return new Promise(function (resolve, reject) {
      var s = document.createElement("script");
      s.src = src;
      s.async = true;
      s.onload = resolve;
      s.onerror = function () { reject(new Error("could not load " + src)); };
      document.head.appendChild(s);
    });
  }

  function zxingDecoder(scriptUrl, wasmUrl) {
    if (!scriptUrl || !wasmUrl) return Promise.reject(new Error("no decoder URL on the widget"));
    var ready = window.ZXingWASM ? Promise.resolve() : loadScript(scriptUrl);
    return ready.then(function () {
      var Z = window.ZXingWASM;
      if (!Z || typeof Z.prepareZXingModule !== "function") throw new Error("ZXingWASM is missing");
      // Fetch the .wasm from this site, never from the CDN the package defaults to.
      return Z.prepareZXingModule({
        overrides: {
          locateFile: function (path, prefix) {
            return /\.wasm$/.test(path) ? wasmUrl : prefix + path;
          }
        },
        fireImmediately: true
      }).then(function () {
        var options = { formats: ["QRCode"], tryHarder: true, maxNumberOfSymbols: 4 };
        var decode = function (canvas) {
          var ctx = canvas.getContext("2d", { willReadFrequently: true });
          var image = ctx.getImageData(0, 0, canvas.width, canvas.height);
          return Z.readBarcodes(image, options).then(function (found) {
            return found.filter(function (b) { return b.isValid; }).map(function (b) { return b.text; });
          });
        };
        decode.kind = "zxing-wasm";
        return decode;
      });
    });
  }

  // ---------------------------------------------------------------------------- the widget

  function Widget(root) {
    this.root = root;
    this.area = root.querySelector("textarea");
    this.tools = root.querySelector(".scan-tools");
    this.startBtn = root.querySelector(".scan-start");
    this.stopBtn = root.querySelector(".scan-stop");
    this.view = root.querySelector(".scan-view");
    this.video = root.querySelector("video");
    this.status = root.querySelector(".scan-status");
    this.countEl = root.querySelector(".scan-count");
    this.list = root.querySelector(".scan-list");
    this.canvas = document.createElement("canvas");
    this.stream = null;
    this.session = 0; // bumps on every start and stop, so late promises of an old start are dropped
    this.timer = null;
    this.frames = 0;
    this.suppressed = {}; // key -> time last seen, for codes removed while in view
    this.hitTimer = null;
    this.lastNote = "";

    var self = this;
    this.startBtn.addEventListener("click", function () { self.start(); });
    this.stopBtn.addEventListener("click", function () { self.stop(true); });
    this.area.addEventListener("input", function () { self.render(); });
    this.list.addEventListener("click", function (ev) {
      var btn = ev.target.closest ? ev.target.closest("button[data-key]") : null;
      if (btn) self.remove(btn.getAttribute("data-key"), btn.getAttribute("data-line"));
    });
    var form = this.area.form;
    if (form) form.addEventListener("submit", function () { self.stop(false); });
    document.addEventListener("visibilitychange", function () {
      if (document.hidden) self.stop(true);
    });
    window.addEventListener("pagehide", function () { self.stop(false); });

    this.tools.hidden = false;
    this.root.classList.add("scan-ready");
    this.render();
  }

  Widget.prototype.t = function (name, values) {
    var attr = "data-t-" + name.replace(/[A-Z]/g, function (c) { return "-" + c.toLowerCase(); });
    var s = this.root.getAttribute(attr) || FALLBACK[name] || name;
    if (values) {
      Object.keys(values).forEach(function (k) { s = s.split("{" + k + "}").join(values[k]); });
    }
    return s;
  };

  Widget.prototype.say = function (text, kind) {
    this.status.textContent = text;
    this.status.className = "scan-status" + (kind ? " scan-" + kind : "");
    this.lastNote = text;
  };

  /** The distinct codes of the textarea, in order: [{key, line}] (key null for unknown lines). */
  Widget.prototype.entries = function () {
    var seen = {};
    var out = [];
    this.area.value.split(/\r?\n/).forEach(function (raw) {
      var line = raw.trim();
      if (!line) return;
      var key = codeKey(line);
      var id = key || "line:" + line;
      if (seen[id]) return;
      seen[id] = true;
      out.push({ key: key, line: line });
    });
    return out;
  };

  Widget.prototype.has = function (key) {
    return this.entries().some(function (e) { return e.key === key; });
  };

  Widget.prototype.render = function (fresh) {
    var entries = this.entries();
    var list = this.list;
    while (list.firstChild) list.removeChild(list.firstChild);
    var self = this;
    entries.forEach(function (e) {
      var li = document.createElement("li");
      li.className = "scan-item" + (e.key ? "" : " scan-unknown") + (fresh && e.key === fresh ? " scan-new" : "");
      li.title = e.line;
      var code = document.createElement("span");
      code.className = "scan-code";
      code.textContent = e.key || shorten(e.line);
      li.appendChild(code);
      var btn = document.createElement("button");
      btn.type = "button";
      btn.className = "scan-remove";
      btn.setAttribute("data-key", e.key || "");
      btn.setAttribute("data-line", e.line);
      btn.setAttribute("aria-label", self.t("remove", { code: e.key || shorten(e.line) }));
      btn.textContent = "×";
      li.appendChild(btn);
      list.appendChild(li);
    });
    var n = entries.length;
    this.countEl.textContent = this.t("count", { n: String(n) });
    this.countEl.setAttribute("data-count", String(n));
    this.countEl.hidden = n === 0 && !this.stream;
    list.hidden = n === 0;
  };

  Widget.prototype.add = function (text) {
    var v = this.area.value;
    if (v && !/\n$/.test(v)) v += "\n";
    this.area.value = v + text.trim() + "\n";
  };

  Widget.prototype.remove = function (key, line) {
    var lines = this.area.value.split(/\r?\n/);
    var keep = lines.filter(function (raw) {
      var l = raw.trim();
      if (!l) return false;
      return key ? codeKey(l) !== key : l !== line;
    });
    this.area.value = keep.length ? keep.join("\n") + "\n" : "";
    if (key && this.stream) this.suppressed[key] = Date.now();
    this.render();
  };

  Widget.prototype.onTexts = function (texts) {
    var now = Date.now();
    var self = this;
    texts.forEach(function (text) {
      var key = codeKey(text);
      if (!key) {
        var msg = self.t("notOurs", { code: shorten(text) });
        if (self.lastNote !== msg) self.say(msg, "warn");
        return;
      }
      if (self.suppressed[key] !== undefined) {
        self.suppressed[key] = now; // still in view: stays removed
        return;
      }
      if (self.has(key)) {
        var again = self.t("again", { code: key });
        if (self.lastNote !== again && self.lastNote.indexOf(key) < 0) self.say(again);
        return;
      }
      self.add(text);
      self.say(self.t("added", { code: key }), "ok");
      self.render(key);
      self.flash();
    });
    Object.keys(this.suppressed).forEach(function (k) {
      if (now - self.suppressed[k] > GONE_MS) delete self.suppressed[k];
    });
  };

  Widget.prototype.flash = function () {
    var view = this.view;
    view.classList.add("scan-hit");
    clearTimeout(this.hitTimer);
    this.hitTimer = setTimeout(function () { view.classList.remove("scan-hit"); }, HIT_MS);
  };

  Widget.prototype.fail = function (key) {
    this.stop(false);
    this.say(this.t(key), "error");
    this.root.setAttribute("data-scan-error", key);
    this.area.focus();
  };

  var active = null; // the widget that has the camera: one at a time

  Widget.prototype.start = function () {
    if (this.stream) return;
    if (active && active !== this) active.stop(true);
    active = this;
    this.root.removeAttribute("data-scan-error");
    var md = navigator.mediaDevices;
    if (!md || typeof md.getUserMedia !== "function") {
      this.fail(window.isSecureContext === false ? "insecure" : "noCamera");
      return;
    }
    var session = ++this.session;
    var self = this;
    this.say(this.t("starting"));
    this.startBtn.disabled = true;
    md.getUserMedia({
      audio: false,
      video: { facingMode: { ideal: "environment" }, width: { ideal: 1280 }, height: { ideal: 720 } }
    }).then(function (stream) {
      if (session !== self.session) {
        stream.getTracks().forEach(function (t) { t.stop(); });
        return;
      }
      self.stream = stream;
      self.video.srcObject = stream;
      self.view.hidden = false;
      self.startBtn.hidden = true;
      self.startBtn.disabled = false;
      self.stopBtn.hidden = false;
      self.render();
      var played = self.video.play();
      if (played && played.catch) played.catch(function () { /* autoplay is allowed: muted, after a tap */ });
      return getDecoder(self.root).then(function (decode) {
        if (session !== self.session) return;
        self.root.setAttribute("data-decoder-kind", decode.kind);
        self.say(self.t("scanning"));
        self.loop(session, decode);
      }, function () {
        if (session === self.session) self.fail("decoder");
      });
    }, function (err) {
      if (session !== self.session) return;
      self.startBtn.disabled = false;
      var name = err && err.name;
      if (name === "NotAllowedError" || name === "SecurityError" || name === "PermissionDeniedError") self.fail("denied");
      else if (name === "NotFoundError" || name === "OverconstrainedError" || name === "DevicesNotFoundError") self.fail("noCamera");
      else if (name === "NotReadableError" || name === "TrackStartError" || name === "AbortError") self.fail("busy");
      else self.fail("failed");
    });
  };

  Widget.prototype.loop = function (session, decode) {
    var self = this;
    if (session !== this.session) return;
    var video = this.video;
    var next = function () {
      if (session === self.session) self.timer = setTimeout(function () { self.loop(session, decode); }, SCAN_EVERY_MS);
    };
    var w = video.videoWidth;
    var h = video.videoHeight;
    if (video.readyState < 2 || !w || !h) {
      next();
      return;
    }
    var scale = Math.min(1, MAX_SIDE / Math.max(w, h));
    var cw = Math.round(w * scale);
    var ch = Math.round(h * scale);
    var canvas = this.canvas;
    if (canvas.width !== cw) canvas.width = cw;
    if (canvas.height !== ch) canvas.height = ch;
    canvas.getContext("2d", { willReadFrequently: true }).drawImage(video, 0, 0, cw, ch);
    decode(canvas).then(function (texts) {
      if (session !== self.session) return;
      self.frames += 1;
      self.root.setAttribute("data-frames", String(self.frames));
      self.onTexts(texts);
      next();
    }, function () {
      next(); // one bad frame is no reason to stop
    });
  };

  /** Stop the camera; `tell` says so in the status line. */
  Widget.prototype.stop = function (tell) {
    if (active === this) active = null;
    this.session += 1;
    clearTimeout(this.timer);
    if (this.stream) {
      this.stream.getTracks().forEach(function (t) { t.stop(); });
      this.stream = null;
      if (tell) this.say(this.t("stopped"));
    }
    this.video.srcObject = null;
    this.view.hidden = true;
    this.view.classList.remove("scan-hit");
    this.stopBtn.hidden = true;
    this.startBtn.hidden = false;
    this.startBtn.disabled = false;
    this.suppressed = {};
    this.render();
  };

  function enhanceAll() {
    var roots = document.querySelectorAll("[data-scan]:not(.scan-ready)");
    for (var i = 0; i < roots.length; i++) {
      if (roots[i].querySelector("textarea") && roots[i].querySelector(".scan-start")) new Widget(roots[i]);
    }
  }

  window.traceScan = { enhanceAll: enhanceAll, codeKey: codeKey };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", enhanceAll);
  else enhanceAll();
})();
