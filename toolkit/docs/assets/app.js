/* toolkit docs: the page code. Vanilla JavaScript, no library, no network: everything
   comes from window.TOOLKIT_DOCS (data.js). Text goes in through textContent; only the
   plots, SVG written and escaped by toolkit/docs/plots.py, go in as markup. */
(function () {
  "use strict";
  var D = window.TOOLKIT_DOCS;
  var SVG = "http://www.w3.org/2000/svg";
  var main = document.getElementById("main");

  function el(tag, attrs) {
    var node = document.createElement(tag);
    var key;
    for (key in attrs || {}) {
      if (key === "text") node.textContent = attrs[key];
      else if (key === "html") node.innerHTML = attrs[key];
      else if (key === "onclick") node.addEventListener("click", attrs[key]);
      else if (attrs[key] !== null && attrs[key] !== undefined) node.setAttribute(key, attrs[key]);
    }
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined) continue;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }
  function svgEl(tag, attrs) {
    var node = document.createElementNS(SVG, tag);
    for (var key in attrs) node.setAttribute(key, attrs[key]);
    return node;
  }
  function link(text, hash) { return el("a", { href: hash, text: text }); }
  function relationHash(name) { return "#/relation/" + encodeURIComponent(name); }
  function modelHash(name) { return "#/model/" + encodeURIComponent(name); }
  function fmt(value) {
    if (value === null || value === undefined) return "–";
    if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toPrecision(4);
    if (typeof value === "object") return JSON.stringify(value);
    return String(value);
  }
  function status(value) { return el("span", { "class": "status-" + value, text: fmt(value) }); }
  function table(headers, rows, cls) {
    var head = el("tr");
    headers.forEach(function (h) { head.appendChild(el("th", { text: h })); });
    var body = el("tbody");
    rows.forEach(function (row) {
      var tr = el("tr");
      row.forEach(function (cell) {
        var td = el("td", { "class": typeof cell === "number" ? "num" : null });
        if (cell instanceof Node) td.appendChild(cell); else td.textContent = fmt(cell);
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    return el("table", { "class": cls || null }, el("thead", null, head), body);
  }
  function kv(pairs) { return table(["", ""], pairs.filter(function (p) { return p[1] !== undefined; }), "kv"); }
  function splitColumn(full) {
    var parts = full.split(".");
    // An ephemeral step has no schema.table: the graph names it by its bare step name.
    if (!D.relations[parts.slice(0, 2).join(".")] && D.relations[parts[0]]) return { relation: parts[0], column: parts.slice(1).join(".") };
    return { relation: parts.slice(0, 2).join("."), column: parts.slice(2).join(".") };
  }
  function metrics(values) {
    return Object.keys(values || {}).map(function (k) { return k + " " + fmt(values[k]); }).join(", ");
  }

  /* -- sidebar and search -------------------------------------------------------------- */
  function sidebar() {
    var side = document.getElementById("sidebar");
    side.textContent = "";
    var groups = { model: "Models", feature: "Feature steps", seed: "Seeds", source: "Sources" };
    Object.keys(groups).forEach(function (kind) {
      var names = Object.keys(D.relations).filter(function (n) { return D.relations[n].kind === kind; }).sort();
      if (!names.length) return;
      var list = el("ul");
      names.forEach(function (name) {
        var r = D.relations[name];
        list.appendChild(el("li", { "data-name": name }, kind === "model" ? link(r.step, modelHash(r.step)) : link(r.step || name, relationHash(name))));
      });
      side.appendChild(el("h4", { text: groups[kind] + " (" + names.length + ")" }));
      side.appendChild(list);
    });
  }
  document.getElementById("search").addEventListener("input", function (event) {
    var text = event.target.value.toLowerCase();
    document.querySelectorAll("#sidebar li").forEach(function (li) {
      var name = li.getAttribute("data-name");
      var columns = D.relations[name].columns.map(function (c) { return c.name; }).join(" ");
      li.style.display = !text || (name + " " + columns).toLowerCase().indexOf(text) >= 0 ? "" : "none";
    });
    var svg = document.querySelector("svg.dag");
    if (svg) {
      svg.classList.toggle("dimmed", !!text);
      svg.querySelectorAll(".node").forEach(function (g) {
        g.classList.toggle("match", !!text && g.getAttribute("data-id").toLowerCase().indexOf(text) >= 0);
      });
    }
  });

  /* -- the DAG --------------------------------------------------------------------------- */
  var NODE_W = 190, NODE_H = 26;
  function drawDag(container) {
    var started = performance.now();
    var dag = D.dag, at = {};
    var svg = svgEl("svg", { "class": "dag", width: dag.width, height: dag.height, viewBox: "0 0 " + dag.width + " " + dag.height });
    dag.nodes.forEach(function (n) { at[n.id] = n; });
    var edges = svgEl("g", { "class": "edges" });
    dag.edges.forEach(function (e) {
      var a = at[e[0]], b = at[e[1]];
      if (!a || !b) return;
      var x1 = a.x + NODE_W, y1 = a.y + NODE_H / 2, x2 = b.x, y2 = b.y + NODE_H / 2, mid = (x1 + x2) / 2;
      edges.appendChild(svgEl("path", { "class": "edge", d: "M" + x1 + "," + y1 + " C" + mid + "," + y1 + " " + mid + "," + y2 + " " + x2 + "," + y2 }));
    });
    svg.appendChild(edges);
    var nodes = svgEl("g", { "class": "nodes" });
    dag.nodes.forEach(function (n) {
      var g = svgEl("g", { "class": "node kind-" + n.kind, "data-id": n.id, "data-kind": n.kind, transform: "translate(" + n.x + "," + n.y + ")" });
      var title = svgEl("title", {});
      title.textContent = n.id + " (" + n.kind + ")";
      g.appendChild(title);
      g.appendChild(svgEl("rect", { width: NODE_W, height: NODE_H }));
      var text = svgEl("text", { x: 8, y: 17 });
      text.textContent = n.label.length > 27 ? n.label.slice(0, 26) + "…" : n.label;
      g.appendChild(text);
      g.addEventListener("click", function () {
        location.hash = n.kind === "model" ? modelHash(n.step) : relationHash(n.id);
      });
      nodes.appendChild(g);
    });
    svg.appendChild(nodes);
    container.appendChild(svg);
    svg.getBoundingClientRect(); // layout now, so the time includes it
    var built = performance.now() - started;
    window.TOOLKIT_DAG_RENDER_MS = built;
    svg.setAttribute("data-render-ms", built.toFixed(1));
    requestAnimationFrame(function () {
      requestAnimationFrame(function () { window.TOOLKIT_DAG_PAINTED_MS = performance.now() - started; });
    });
  }

  function home() {
    var counts = {};
    D.dag.nodes.forEach(function (n) { counts[n.kind] = (counts[n.kind] || 0) + 1; });
    main.appendChild(el("h1", { text: D.project }));
    main.appendChild(el("p", { "class": "muted", text: "target " + D.target + " (" + D.engine + "), built " + D.built_at + " by toolkit " + D.toolkit_version }));
    var legend = el("p", { "class": "legend-row" });
    [["source", "sources"], ["seed", "seeds"], ["feature", "feature steps"], ["model", "models → predictions"]].forEach(function (k) {
      legend.appendChild(el("span", null, el("span", { "class": "badge " + k[0], text: String(counts[k[0]] || 0) }), k[1]));
    });
    main.appendChild(legend);
    var wrap = el("div", { id: "dag-wrap" });
    var holder = el("div", { id: "dag" });
    wrap.appendChild(holder);
    main.appendChild(wrap);
    drawDag(holder);
    if (D.runs.length) {
      var last = D.runs[0];
      main.appendChild(el("p", null, "Last run: ", link("run " + last.run_id, "#/runs"), " ", status(last.status), " " + fmt(last.started_at)));
    } else {
      main.appendChild(el("p", { "class": "muted", text: "No run recorded in this target yet." }));
    }
  }

  /* -- relations and column lineage ------------------------------------------------------ */
  function relation(name) {
    var r = D.relations[name];
    if (!r) { main.appendChild(el("p", { text: "No relation named " + name })); return; }
    main.appendChild(el("h1", null, el("span", { "class": "badge " + r.kind, text: r.kind }), name));
    var facts = [["file", r.file]];
    if (r.materialized) facts.push(["materialized", r.inlined ? r.materialized + ": inlined into its readers, no table in the warehouse" : r.materialized]);
    if (r.tags && r.tags.length) facts.push(["tags", r.tags.join(", ")]);
    if (r.model) facts.push(["model card", link(r.model, modelHash(r.model))]);
    if (r.upstream || r.sources) {
      var reads = el("span");
      (r.upstream || []).concat(r.sources || []).forEach(function (u, i) {
        var target = D.relations[u] ? u : Object.keys(D.relations).filter(function (k) { return D.relations[k].step === u || D.relations[k].key === u; })[0];
        if (i) reads.appendChild(document.createTextNode(", "));
        reads.appendChild(target ? link(u, relationHash(target)) : document.createTextNode(u));
      });
      facts.push(["reads", reads]);
    }
    if (r.meta && Object.keys(r.meta).length) facts.push(["meta", JSON.stringify(r.meta)]);
    main.appendChild(kv(facts));
    if (r.description) main.appendChild(el("p", { "class": "description", text: r.description }));
    main.appendChild(el("h2", { text: "Columns" }));
    if (!r.followed) main.appendChild(el("p", { "class": "muted", text: "sqlglot could not follow this step's SQL: its columns have no lineage." }));
    var rows = r.columns.map(function (c) {
      var button = el("button", { "class": "column-link", "data-column": name + "." + c.name, text: c.name, onclick: function () { showLineage(name, c.name); } });
      return [button, c.type, c.description, (c.tags || []).join(", ")];
    });
    var wrap = el("div", { "class": "columns-and-lineage" });
    wrap.appendChild(table(["column", "type", "description", "tags"], rows, "columns"));
    wrap.appendChild(el("div", { id: "lineage" }, el("p", { "class": "muted", text: "Click a column to see the columns it is made from and what reads it." })));
    main.appendChild(wrap);
    if (r.tests && r.tests.length) {
      main.appendChild(el("h2", { text: "Data tests (latest results)" }));
      main.appendChild(table(["test", "status", "severity", "failing rows", "run", "checked"],
        r.tests.map(function (t) { return [t.test, t.status ? status(t.status) : "not run yet", t.severity, t.failing_rows, t.run_id, t.checked_at]; })));
    }
    if (r.template) {
      main.appendChild(el("h2", { text: "SQL" }));
      main.appendChild(el("details", null, el("summary", { text: "Template (" + r.file + ")" }), el("pre", { "class": "template", text: r.template })));
      if (r.compiled) main.appendChild(el("details", { open: "" }, el("summary", { text: "Compiled for " + D.engine }), el("pre", { "class": "compiled", text: r.compiled })));
    }
    if (r.runs && r.runs.length) {
      main.appendChild(el("h2", { text: "Last runs" }));
      main.appendChild(table(["run", "action", "status", "rows", "seconds", "reason", "error"],
        r.runs.map(function (x) { return [x.run_id, x.action, status(x.status), x.rows_written, x.seconds, x.reason, x.error]; })));
    }
  }

  function columnInfo(full) {
    var p = splitColumn(full), r = D.relations[p.relation];
    if (!r) return null;
    for (var i = 0; i < r.columns.length; i++) if (r.columns[i].name === p.column) return r.columns[i];
    return null;
  }
  function columnLink(full) {
    var p = splitColumn(full);
    return D.relations[p.relation] ? link(full, relationHash(p.relation)) : document.createTextNode(full);
  }
  function lineageTree(full, direction, seen, depth) {
    var list = el("ul", { "class": direction });
    var info = columnInfo(full);
    (info ? info[direction] : []).forEach(function (next) {
      var item = el("li", { "class": direction + "-column", "data-column": next, "data-depth": String(depth) }, columnLink(next));
      if (seen[next]) item.appendChild(el("span", { "class": "muted", text: " (see above)" }));
      else { seen[next] = true; item.appendChild(lineageTree(next, direction, seen, depth + 1)); }
      list.appendChild(item);
    });
    return list;
  }
  function showLineage(name, column) {
    var full = name + "." + column, panel = document.getElementById("lineage");
    document.querySelectorAll("button.column-link").forEach(function (b) { b.classList.toggle("selected", b.getAttribute("data-column") === full); });
    panel.textContent = "";
    panel.setAttribute("data-column", full);
    panel.appendChild(el("h3", { text: full }));
    var info = columnInfo(full) || {};
    if (info.description) panel.appendChild(el("p", { "class": "description", text: info.description }));
    panel.appendChild(el("h4", { text: "Made from (upstream)" }));
    var up = lineageTree(full, "upstream", {}, 1);
    panel.appendChild(up.childNodes.length ? up : el("p", { "class": "muted", text: D.relations[name].kind === "source" ? "a source column" : "no column (a constant, a row count, or a table function)" }));
    panel.appendChild(el("h4", { text: "Read by (downstream)" }));
    var down = lineageTree(full, "downstream", {}, 1);
    panel.appendChild(down.childNodes.length ? down : el("p", { "class": "muted", text: "no column reads it" }));
  }

  /* -- models ---------------------------------------------------------------------------- */
  function model(name) {
    var m = D.models[name];
    if (!m) { main.appendChild(el("p", { text: "No model named " + name })); return; }
    var card = el("div", { "class": "model-card", "data-model": name });
    main.appendChild(card);
    card.appendChild(el("h1", null, el("span", { "class": "badge model", text: "model" }), name));
    if (m.description) card.appendChild(el("p", { "class": "description", text: m.description }));
    var d = m.declared;
    card.appendChild(kv([
      ["file", m.file], ["production version", el("span", { id: "production-version", text: m.production === null ? "none" : String(m.production) })],
      ["production since", m.production_since], ["predictions", link(m.relation, relationHash(m.relation))],
      ["training table", link(d.training, relationHash("features." + d.training))], ["scoring table", d.scoring_table],
      ["label", d.label], ["key", d.key.join(", ")], ["metrics", (d.metrics || []).join(", ")], ["gates", JSON.stringify(d.gates)],
      ["promote", d.promote], ["scoring", d.scoring],
    ]));
    card.appendChild(el("h2", { text: "Versions" }));
    card.appendChild(table(["version", "status", "candidate", "created", "run", "metrics", "scored in"],
      m.versions.map(function (v) { return [v.version, status(v.status), v.candidate, v.created_at, v.run_id, metrics(v.metrics), v.scoring]; })));
    if (!m.versions.length) { card.appendChild(el("p", { "class": "muted", text: "No version trained yet." })); return; }
    var picker = el("div", { "class": "versions" }), detail = el("div", { id: "version-detail" });
    card.appendChild(el("h2", { text: "Evaluation on the held-out rows" }));
    card.appendChild(picker);
    card.appendChild(detail);
    m.versions.forEach(function (v) {
      picker.appendChild(el("button", { "data-version": String(v.version), text: "version " + v.version + (v.status === "production" ? " (production)" : ""),
        onclick: function () { showVersion(m, v, picker, detail); } }));
    });
    var first = m.versions.filter(function (v) { return v.version === m.production; })[0] || m.versions[0];
    showVersion(m, first, picker, detail);
    if (m.history.length) {
      card.appendChild(el("h2", { text: "Status history" }));
      card.appendChild(table(["when", "version", "action", "status", "who", "run", "why"],
        m.history.slice().reverse().map(function (c) { return [c.changed_at, c.version, c.action, status(c.status), c.actor, c.run_id, c.reason]; })));
    }
    card.appendChild(el("h2", { text: "Monitoring" }));
    var plots = el("div", { "class": "plots" });
    m.drift_plots.forEach(function (svg) { plots.appendChild(el("div", { html: svg })); });
    card.appendChild(plots);
    if (m.drift.length) {
      card.appendChild(el("p", { "class": "muted", text: "Latest value per feature and metric (of " + m.scoring_runs + " scoring runs shown):" }));
      card.appendChild(table(["feature", "metric", "value", "threshold", "status", "version", "run"],
        m.drift.map(function (r) { return [r.feature || "–", r.metric, r.value, r.threshold, status(r.status), r.version, r.run_id]; })));
    } else {
      card.appendChild(el("p", { "class": "muted", text: "Nothing monitored yet (a model step records drift when it scores)." }));
    }
  }

  function showVersion(m, v, picker, detail) {
    picker.querySelectorAll("button").forEach(function (b) { b.classList.toggle("selected", b.getAttribute("data-version") === String(v.version)); });
    detail.textContent = "";
    detail.setAttribute("data-version", String(v.version));
    var e = v.evaluation || {}, s = e.split || {};
    var facts = [["version", v.version + " (" + v.status + "), " + v.candidate], ["metrics", metrics(v.metrics)]];
    if (s.kind) {
      facts.push(["split", s.kind + (s.column ? " on " + s.column : "") + ", test fraction " + fmt(s.test_fraction) + (s.seed !== undefined ? ", seed " + s.seed : "")]);
      facts.push(["rows", "train " + fmt(s.train_rows) + ", test " + fmt(s.test_rows)]);
      if (s.cutoff !== undefined) facts.push(["cut-off", "test from " + fmt(s.cutoff) + " to " + fmt(s.test_until) + "; trained on " + fmt(s.train_from) + " to " + fmt(s.train_until)]);
      if (s.test_groups !== undefined) facts.push(["groups", "train " + s.train_groups + ", test " + s.test_groups]);
    } else {
      facts.push(["split", "not recorded (trained before toolkit kept evaluations)"]);
    }
    if (e.classes) facts.push(["class balance", e.classes.labels.map(function (c, i) { return c + ": train " + e.classes.train[i] + ", test " + e.classes.test[i]; }).join("; ")]);
    if (e.residuals) facts.push(["residuals", "mean " + fmt(e.residuals.mean) + ", std " + fmt(e.residuals.std) + ", MAE " + fmt(e.residuals.mae) + ", quantiles " + metrics(e.residuals.quantiles)]);
    if (e.error) facts.push(["evaluation error", e.error]);
    detail.appendChild(kv(facts));
    var plots = el("div", { "class": "plots" });
    ["roc", "pr", "calibration", "confusion", "predicted_vs_actual", "residuals", "importances"].forEach(function (k) {
      if (v.plots[k]) plots.appendChild(el("div", { "class": "plot-" + k, html: v.plots[k] }));
    });
    detail.appendChild(plots);
    if (v.candidates.length) {
      detail.appendChild(el("h3", { text: "Candidates fitted with this version" }));
      detail.appendChild(table(["candidate", "metrics"], v.candidates.map(function (c) { return [c.name, metrics(c.metrics)]; })));
    }
  }

  /* -- runs -------------------------------------------------------------------------------- */
  function runs() {
    main.appendChild(el("h1", { text: "Run history" }));
    if (!D.runs.length) { main.appendChild(el("p", { "class": "muted", text: "No run recorded yet." })); return; }
    main.appendChild(table(["run", "command", "status", "started", "seconds", "steps", "host"],
      D.runs.map(function (r) { return [r.run_id, r.command, status(r.status), r.started_at, r.seconds, metrics(r.steps), r.host]; }), "runs"));
  }

  function route() {
    var hash = location.hash.replace(/^#\/?/, "");
    var parts = hash.split("/"), view = parts[0], arg = decodeURIComponent(parts.slice(1).join("/"));
    main.textContent = "";
    if (view === "relation") relation(arg);
    else if (view === "model") model(arg);
    else if (view === "runs") runs();
    else home();
    window.scrollTo(0, 0);
  }

  document.getElementById("project").textContent = D.project + " · " + D.target;
  document.title = D.project + " · toolkit docs";
  sidebar();
  window.addEventListener("hashchange", route);
  route();
})();
