// Hookline settings UI: small enhancements. Every page works without this file.
(function () {
  "use strict";

  // Controls that only make sense with JavaScript are rendered hidden.
  document.querySelectorAll(".js-only").forEach(function (el) { el.hidden = false; });

  // Copy buttons: data-copy names the element whose text is copied.
  document.querySelectorAll("button[data-copy]").forEach(function (btn) {
    btn.addEventListener("click", function () {
      var el = document.getElementById(btn.getAttribute("data-copy"));
      if (!el) return;
      var text = el.textContent.trim();
      var done = function () {
        var old = btn.textContent;
        btn.textContent = "Copied";
        setTimeout(function () { btn.textContent = old; }, 2000);
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done, function () { selectText(el); });
      } else {
        selectText(el);
        try { if (document.execCommand("copy")) done(); } catch (e) { /* selected for manual copy */ }
      }
    });
  });
  function selectText(el) {
    var r = document.createRange();
    r.selectNodeContents(el);
    var s = window.getSelection();
    s.removeAllRanges();
    s.addRange(r);
  }

  // Forms that ask before doing something drastic.
  document.querySelectorAll("form[data-confirm]").forEach(function (f) {
    f.addEventListener("submit", function (ev) {
      if (!window.confirm(f.getAttribute("data-confirm"))) ev.preventDefault();
    });
  });

  // A running job's page follows its progress in place, twice a second (without
  // JavaScript, the meta refresh in <noscript> reloads it every 2 s). When the job ends, its
  // section is replaced by the finished one (no Cancel). On an error it falls back to
  // reloading.
  var job = document.getElementById("job");
  if (job && job.getAttribute("data-state") === "running" && window.fetch && window.DOMParser) {
    var follow = function () {
      fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) {
          if (!r.ok) throw new Error("HTTP " + r.status);
          return r.text();
        })
        .then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          var fresh = doc.getElementById("job");
          if (!fresh) throw new Error("no job on the page");
          if (fresh.getAttribute("data-state") !== "running") {
            var done = document.importNode(fresh, true);
            job.replaceWith(done);
            job = done;
            document.title = doc.title;
            return;
          }
          ["job-state", "job-progress-text"].forEach(function (id) {
            var a = document.getElementById(id), b = doc.getElementById(id);
            if (a && b) a.textContent = b.textContent;
          });
          var bar = document.getElementById("job-progress"), nb = doc.getElementById("job-progress");
          if (bar && nb) {
            bar.max = nb.max;
            bar.value = nb.value;
            bar.textContent = nb.textContent;
          }
          setTimeout(follow, 500);
        })
        .catch(function () { setTimeout(function () { window.location.reload(); }, 2000); });
    };
    setTimeout(follow, 500);
  }

  // Delivery rows open the delivery page (the time cell is a real link for keyboards).
  document.querySelectorAll("tr[data-href]").forEach(function (tr) {
    tr.addEventListener("click", function (ev) {
      if (ev.target.closest("a, button, input, select")) return;
      if (window.getSelection && String(window.getSelection()).length) return;
      window.location.href = tr.getAttribute("data-href");
    });
  });

  // Webhook form: custom header rows can be added and removed.
  var rows = document.getElementById("header-rows");
  var tpl = document.getElementById("header-row-template");
  var addBtn = document.getElementById("add-header");
  var counter = 1000;
  function wireRemove(row) {
    var b = row.querySelector(".remove-row");
    if (!b) return;
    b.hidden = false;
    b.addEventListener("click", function () {
      var next = row.nextElementSibling || row.previousElementSibling;
      row.remove();
      if (rows.children.length === 0) addRow();
      var focus = next && next.querySelector("input");
      (focus || addBtn).focus();
    });
  }
  function addRow() {
    var row = tpl.content.firstElementChild.cloneNode(true);
    var inputs = row.querySelectorAll("input");
    var labels = row.querySelectorAll("label");
    counter += 1;
    inputs[0].id = "header-name-" + counter; labels[0].htmlFor = inputs[0].id;
    inputs[1].id = "header-value-" + counter; labels[1].htmlFor = inputs[1].id;
    rows.appendChild(row);
    wireRemove(row);
    return row;
  }
  if (rows && tpl && addBtn) {
    Array.prototype.forEach.call(rows.children, wireRemove);
    addBtn.addEventListener("click", function () { addRow().querySelector("input").focus(); });
  }

  // Webhook form: grey out the event checkboxes while "All events" is chosen.
  var all = document.getElementById("events-all");
  var chosen = document.getElementById("events-chosen");
  var choices = document.getElementById("event-choices");
  function syncEvents() {
    if (!choices) return;
    choices.classList.toggle("is-disabled", all.checked);
  }
  if (all && chosen && choices) {
    all.addEventListener("change", syncEvents);
    chosen.addEventListener("change", syncEvents);
    choices.addEventListener("change", function (ev) {
      if (ev.target.type === "checkbox" && ev.target.checked) { chosen.checked = true; syncEvents(); }
    });
    syncEvents();
  }

  // Typing a custom schedule or an own secret selects that option.
  [["retry-custom-input", "retry-custom"], ["secret-input", "secret-own"]].forEach(function (p) {
    var input = document.getElementById(p[0]);
    var radio = document.getElementById(p[1]);
    if (input && radio) input.addEventListener("input", function () { if (input.value) radio.checked = true; });
  });
})();
