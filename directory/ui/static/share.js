// The share-dialog people-picker: a reference client of GET /v1/people/search.
// Debounced (200 ms), one request in flight (older ones are aborted), ARIA combobox with
// arrow-key navigation, Enter to choose, Escape to close. The API key stays in sessionStorage.
(function () {
  "use strict";
  var input = document.getElementById("people");
  var list = document.getElementById("people-results");
  var status = document.getElementById("people-status");
  var keyInput = document.getElementById("api-key");
  var contextInput = document.getElementById("context");
  var keyForm = document.getElementById("demo-key-form");
  var timer = null, inflight = null, results = [], active = -1;

  keyInput.value = sessionStorage.getItem("directory-demo-key") || "";
  keyInput.addEventListener("change", function () { sessionStorage.setItem("directory-demo-key", keyInput.value.trim()); });

  if (keyForm) {
    keyForm.addEventListener("submit", function (event) {
      event.preventDefault();
      fetch(keyForm.action, { method: "POST", body: new FormData(keyForm), credentials: "same-origin" })
        .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
        .then(function (res) {
          if (!res.ok) { say(res.body.error ? res.body.error.message : "No demo key"); return; }
          keyInput.value = res.body.key;
          sessionStorage.setItem("directory-demo-key", res.body.key);
          say("Demo key ready: start typing a name.");
          input.focus();
        })
        .catch(function () { say("Could not get a demo key."); });
    });
  }

  function say(text) { status.textContent = text; }

  function close() {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  }

  function initials(name) {
    return name.split(/\s+/).filter(Boolean).slice(0, 2).map(function (p) { return p[0].toUpperCase(); }).join("");
  }

  function render() {
    list.textContent = "";
    results.forEach(function (person, i) {
      var li = document.createElement("li");
      li.id = "person-" + i;
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", i === active ? "true" : "false");
      var avatar = document.createElement("span");
      avatar.className = "avatar";
      avatar.setAttribute("aria-hidden", "true");
      avatar.textContent = initials(person.display_name || "?");
      var text = document.createElement("span");
      var name = document.createElement("span");
      name.className = "who-name";
      name.textContent = person.display_name;
      var sub = document.createElement("span");
      sub.className = "who-sub";
      sub.textContent = person.subline || "";
      text.appendChild(name);
      text.appendChild(sub);
      li.appendChild(avatar);
      li.appendChild(text);
      li.addEventListener("mousedown", function (event) { event.preventDefault(); choose(i); });
      list.appendChild(li);
    });
    list.hidden = results.length === 0;
    input.setAttribute("aria-expanded", results.length ? "true" : "false");
    if (active >= 0) {
      input.setAttribute("aria-activedescendant", "person-" + active);
      document.getElementById("person-" + active).scrollIntoView({ block: "nearest" });
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  }

  function search() {
    var q = input.value.trim();
    if (q.length < 2) { results = []; close(); say(""); return; }
    var key = keyInput.value.trim();
    if (!key) { say("Enter an API key first (see the right-hand panel)."); return; }
    if (inflight) inflight.abort();
    inflight = new AbortController();
    var params = new URLSearchParams({ q: q, limit: "8" });
    if (contextInput.value.trim()) params.set("context", contextInput.value.trim());
    fetch("/v1/people/search?" + params.toString(), {
      headers: { Authorization: "Bearer " + key, Accept: "application/json" },
      signal: inflight.signal
    })
      .then(function (r) {
        if (r.status === 401 || r.status === 403) throw new Error("The API key was refused.");
        if (r.status === 429) throw new Error("Too many requests: slow down a little.");
        if (!r.ok) return r.json().then(function (b) { throw new Error((b.error && b.error.message) || "Search failed."); });
        return r.json();
      })
      .then(function (body) {
        results = body.results || [];
        active = results.length ? 0 : -1;
        render();
        say(results.length ? results.length + " result" + (results.length > 1 ? "s" : "") : "No one found.");
      })
      .catch(function (err) {
        if (err.name === "AbortError") return;
        results = [];
        close();
        say(err.message);
      });
  }

  function choose(i) {
    var p = results[i];
    if (!p) return;
    document.getElementById("chosen-name").textContent = p.display_name;
    document.getElementById("chosen-subline").textContent = p.subline || "";
    document.getElementById("chosen-cloud").textContent = p.cloud_id || "(no home instance yet)";
    document.getElementById("chosen-instance").textContent = p.instance || "—";
    document.getElementById("chosen-email").textContent = p.email || "—";
    document.getElementById("chosen-id").textContent = p.id;
    document.getElementById("chosen").hidden = false;
    input.value = p.display_name;
    close();
    say("Chosen: " + p.display_name);
  }

  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(search, 200);
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      if (!results.length) return;
      event.preventDefault();
      var step = event.key === "ArrowDown" ? 1 : -1;
      active = (active + step + results.length) % results.length;
      render();
    } else if (event.key === "Enter") {
      if (active >= 0) { event.preventDefault(); choose(active); }
    } else if (event.key === "Escape") {
      close();
    }
  });
  input.addEventListener("blur", function () { setTimeout(close, 150); });
})();
