"use strict";
// The gateway's page: the token lives in this tab's sessionStorage only and goes out as a bearer header.
const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem("infimed-token") || "";
let imageUrl = null;

async function api(path, body) {
  const init = { headers: { Authorization: "Bearer " + token } };
  if (body !== undefined) {
    init.method = "POST";
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    const msg = (data.error && data.error.message) || "HTTP " + resp.status;
    const err = new Error(msg);
    err.status = resp.status;
    throw err;
  }
  return data;
}

async function signIn() {
  $("login-error").textContent = "";
  token = $("token").value.trim() || token;
  try {
    const models = await api("/v1/models");
    $("model").replaceChildren(...models.data.map((m) => new Option(m.id, m.id)));
    sessionStorage.setItem("infimed-token", token);
    $("login").hidden = true;
    $("ask").hidden = false;
  } catch (err) {
    sessionStorage.removeItem("infimed-token");
    $("login-error").textContent = err.status === 401 ? "This token is not valid (or was revoked)." : err.message;
  }
}

function readFile(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(new Error("cannot read the file"));
    reader.readAsDataURL(file);
  });
}

async function pickImage() {
  const file = $("image").files[0];
  imageUrl = null;
  $("preview").hidden = true;
  if (!file) return;
  let url = await readFile(file);
  const dicom = /\.(dcm|dicom)$/i.test(file.name) || !file.type;
  if (dicom) url = "data:application/dicom;base64," + url.slice(url.indexOf(",") + 1);
  imageUrl = url;
  if (!dicom) {
    $("preview").src = url;
    $("preview").hidden = false;
  }
}

function describe(report, where) {
  if (!report || report.action === "none") return null;
  const kinds = Object.entries(report.found).map(([k, n]) => `${k} x${n}`).join(", ");
  const verb = { masked: "were masked", withheld: "were found, so the answer was withheld" }[report.action];
  return `Identifiers in the ${where} ${verb || report.action}: ${kinds}.`;
}

function showWarnings(lines) {
  $("warnings").replaceChildren(...lines.filter(Boolean).map((t) => {
    const p = document.createElement("p");
    p.className = "warning";
    p.textContent = t;
    return p;
  }));
}

async function ask() {
  $("ask-error").textContent = "";
  $("answer").textContent = "";
  showWarnings([]);
  const question = $("question").value.trim();
  if (!question) {
    $("ask-error").textContent = "Type a question first.";
    return;
  }
  const content = [];
  if (imageUrl) content.push({ type: "image_url", image_url: { url: imageUrl } });
  content.push({ type: "text", text: question });
  $("send").disabled = true;
  try {
    const data = await api("/v1/chat/completions", {
      model: $("model").value, messages: [{ role: "user", content }], max_tokens: 256,
    });
    $("answer").textContent = data.choices[0].message.content;
    const phi = (data.infimed && data.infimed.phi) || {};
    showWarnings([describe(phi.input, "question"), describe(phi.output, "answer")]);
  } catch (err) {
    if (err.status === 401) {
      $("ask").hidden = true;
      $("login").hidden = false;
    }
    $("ask-error").textContent = err.message;
  } finally {
    $("send").disabled = false;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("signin").addEventListener("click", signIn);
  $("token").addEventListener("keydown", (e) => { if (e.key === "Enter") signIn(); });
  $("image").addEventListener("change", () => pickImage().catch((e) => { $("ask-error").textContent = e.message; }));
  $("send").addEventListener("click", ask);
  if (token) signIn();
});
