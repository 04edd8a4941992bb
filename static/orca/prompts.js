// The prompt editor: lists the {{variables}} used in the system text and messages as the
// user types (marking the undeclared ones, which count as required strings, and offering
// to declare them), and "try it": renders a saved version with variables on the server,
// then sends it with the user's message to the playground endpoint and streams the answer.
// No libraries; the placeholder pattern is the server's (prompts/templating.py).
(() => {
  const $ = (id) => document.getElementById(id);
  const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]{0,63})\s*\}\}/g;

  // --- detected variables ---------------------------------------------------------------
  const form = $("version-form");
  if (form) {
    const field = (name) => form.querySelector(`textarea[name=${name}]`);
    const system = field("system");
    const messages = field("messages");
    const variables = field("variables");
    const list = $("detected");
    const empty = $("detected-empty");
    const note = $("detected-note");
    let undeclared = [];

    const declared = () => {
      try {
        const parsed = JSON.parse(variables.value.trim() || "[]");
        return Array.isArray(parsed) ? parsed.filter((v) => v && v.name) : null;
      } catch (problem) {
        return null; // not JSON yet: the server will say so on save
      }
    };

    const detect = () => {
      const names = [];
      for (const text of [system.value, messages.value]) {
        for (const match of text.matchAll(PLACEHOLDER)) {
          if (!names.includes(match[1])) names.push(match[1]);
        }
      }
      const known = new Set((declared() || []).map((v) => v.name));
      undeclared = names.filter((name) => !known.has(name));
      list.replaceChildren(
        ...names.map((name) => {
          const item = document.createElement("li");
          item.textContent = name;
          if (!known.has(name)) {
            item.className = "undeclared";
            item.title = "not declared: a required string";
          }
          return item;
        }),
      );
      empty.hidden = names.length > 0;
      note.hidden = undeclared.length === 0 || declared() === null || form.dataset.readonly === "1";
    };

    $("declare")?.addEventListener("click", () => {
      const current = declared();
      if (current === null) return;
      const added = undeclared.map((name) => ({ name, type: "string", required: true }));
      variables.value = JSON.stringify([...current, ...added], null, 2);
      detect();
    });
    if (system.disabled) form.dataset.readonly = "1";
    for (const input of [system, messages, variables]) input.addEventListener("input", detect);
    detect();
  }

  // --- try it ----------------------------------------------------------------------------
  const box = $("tryit");
  if (!box) return;
  const error = $("try-error");
  const shown = $("try-messages");
  const answer = $("try-answer");
  const what = $("try-what");
  let controller = null;

  const post = (url, body, signal) =>
    fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": box.dataset.csrf },
      body: JSON.stringify(body),
      credentials: "same-origin",
      signal,
    });

  async function rendered() {
    let values;
    try {
      values = JSON.parse($("try-variables").value.trim() || "{}");
    } catch (problem) {
      throw new Error("The variables are not valid JSON.");
    }
    const response = await post(box.dataset.renderUrl, { ref: $("try-ref").value, variables: values });
    const payload = await response.json();
    if (!response.ok) throw new Error(payload.error ? payload.error.message : `Error ${response.status}`);
    what.textContent = `${payload.prompt}${payload.label ? "@" + payload.label : ""} → v${payload.version}` +
      (payload.model ? ` · model ${payload.model}` : "") +
      (Object.keys(payload.parameters).length ? ` · ${JSON.stringify(payload.parameters)}` : "");
    shown.textContent = payload.messages.map((m) => `[${m.role}]\n${m.content}`).join("\n\n");
    return payload;
  }

  async function readStream(response) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        for (const line of event.split("\n")) {
          if (!line.startsWith("data:")) continue;
          const data = line.slice(5).trim();
          if (data === "[DONE]") return;
          try {
            const chunk = JSON.parse(data);
            if (chunk.error) throw new Error(chunk.error.message || "the relay failed");
            answer.textContent += chunk.choices?.[0]?.delta?.content || "";
          } catch (problem) {
            if (problem instanceof SyntaxError) continue;
            throw problem;
          }
        }
      }
    }
  }

  async function run(send) {
    error.textContent = "";
    answer.textContent = "";
    controller?.abort();
    controller = new AbortController();
    try {
      const payload = await rendered();
      if (!send) return;
      const message = $("try-message").value.trim();
      if (!message) throw new Error("Type a message to send after the prompt.");
      const system = payload.messages.filter((m) => m.role === "system").map((m) => m.content).join("\n\n");
      const turns = payload.messages.filter((m) => m.role !== "system");
      const body = { target: $("try-target").value, system, messages: [...turns, { role: "user", content: message }] };
      if (payload.parameters.temperature !== undefined) body.temperature = payload.parameters.temperature;
      if (payload.parameters.max_tokens !== undefined) body.max_tokens = payload.parameters.max_tokens;
      const response = await post(box.dataset.chatUrl, body, controller.signal);
      if (!response.ok) {
        const failed = await response.json().catch(() => null);
        const detail = failed && failed.error ? failed.error.message || failed.error : "";
        throw new Error(`Error ${response.status}${detail ? ": " + detail : ""}`);
      }
      await readStream(response);
    } catch (problem) {
      if (problem.name !== "AbortError") error.textContent = problem.message;
    }
  }

  $("try-render").addEventListener("click", () => run(false));
  $("try-run").addEventListener("click", () => run(true));
})();
