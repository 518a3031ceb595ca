const CLASS_LABELS = {general: "一般", restricted: "限定", secret: "涉案"};
let token = sessionStorage.getItem("fedshare-token") || "";
let cursor = null;
const $ = (id) => document.getElementById(id);
async function api(path, options = {}) {
  const response = await fetch(path, {...options, headers: {"Authorization": "Bearer " + token,
    "Content-Type": "application/json", ...(options.headers || {})}});
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error((data.error || response.status) + ": " + (typeof data.detail === "string" ? data.detail : ""));
  return data;
}
function text(value) { const span = document.createElement("span"); span.textContent = value ?? ""; return span; }
function row(record) {
  const tr = document.createElement("tr");
  const title = record.stub ? "(存根:内容未授权)" : record.title;
  const cells = [title, record.category_label, null, record.origin, record.version, record.updated_at.slice(0, 19).replace("T", " ")];
  cells.forEach((value, index) => {
    const td = document.createElement("td");
    if (index === 2) { const badge = text(CLASS_LABELS[record.classification]); badge.className = "cls " + record.classification; td.appendChild(badge); }
    else td.appendChild(text(value));
    tr.appendChild(td);
  });
  tr.onclick = async () => { try { $("detail").textContent = JSON.stringify(await api("/api/v1/records/" + record.id), null, 2); } catch (e) { $("detail").textContent = e.message; } };
  return tr;
}
async function load(reset = true) {
  if (reset) { cursor = null; $("records").replaceChildren(); }
  const params = new URLSearchParams({limit: "50"});
  if ($("filter").value) params.set("class", $("filter").value);
  if (cursor) params.set("cursor", cursor);
  const page = await api("/api/v1/records?" + params);
  page.items.forEach((record) => $("records").appendChild(row(record)));
  cursor = page.next_cursor; $("more").hidden = !cursor;
}
async function start() {
  try {
    const me = await api("/api/v1/me");
    $("who").textContent = `${me.name}(${me.role})@${me.node_name}`;
    const categories = await api("/api/v1/categories");
    $("category").replaceChildren(...categories.map((c) => { const o = document.createElement("option"); o.value = c.code; o.textContent = `${c.label_zh} (${c.min_class_label})`; return o; }));
    await load();
    try { $("status").textContent = JSON.stringify(await api("/api/v1/federation/status"), null, 2); }
    catch (e) { $("status").textContent = "仅管理员和安全保密员可查看 (" + e.message + ")"; }
  } catch (e) { $("message").textContent = e.message; }
}
$("login").onclick = () => { token = $("token").value.trim(); sessionStorage.setItem("fedshare-token", token); start(); };
$("filter").onchange = () => load().catch((e) => $("message").textContent = e.message);
$("more").onclick = () => load(false);
$("create").onclick = async () => {
  const body = {category: $("category").value, title: $("title").value, body: $("body").value,
    parties: $("parties").value.split(",").map((p) => p.trim()).filter(Boolean)};
  if ($("classification").value) body.classification = $("classification").value;
  try { await api("/api/v1/records", {method: "POST", body: JSON.stringify(body)}); $("message").textContent = "已提交"; $("title").value = ""; $("body").value = ""; await load(); }
  catch (e) { $("message").textContent = e.message; }
};
if (token) start();
