// The playground: sends the conversation to the dashboard's playground endpoint and reads
// the relay's SSE answer with fetch + ReadableStream, appending text as it arrives.
(() => {
  const root = document.getElementById("playground");
  if (!root) return;
  const $ = (id) => document.getElementById(id);
  const conversation = $("pg-conversation");
  const composer = $("pg-composer");
  const prompt = $("pg-prompt");
  const temperature = $("pg-temperature");
  const temperatureSet = $("pg-temperature-set");
  const temperatureValue = $("pg-temperature-value");
  const history = []; // {role, content} of the finished turns
  let controller = null;

  const showTemperature = () => {
    temperature.disabled = !temperatureSet.checked;
    temperatureValue.textContent = temperatureSet.checked ? temperature.value : "default";
  };
  temperature.addEventListener("input", showTemperature);
  temperatureSet.addEventListener("change", showTemperature);
  showTemperature();

  const bubble = (role, text) => {
    $("pg-empty")?.remove();
    const turn = document.createElement("div");
    turn.className = `turn ${role}`;
    turn.dataset.role = role;
    const body = document.createElement("span");
    body.className = "text";
    body.textContent = text;
    turn.append(body);
    conversation.append(turn);
    turn.scrollIntoView({ block: "nearest" });
    return turn;
  };

  const meta = (turn, parts) => {
    const line = document.createElement("span");
    line.className = "meta";
    parts.forEach((part, index) => line.append(...(index ? [" · ", part] : [part])));
    turn.append(line);
  };

  const errorText = (payload, status) => {
    const error = payload && payload.error;
    const message = error ? (typeof error === "string" ? error : error.message) : "";
    return `Error${status ? " " + status : ""}: ${message || "no details"}`;
  };

  async function send(text) {
    const body = {
      target: $("pg-target").value,
      system: $("pg-system").value,
      messages: [...history, { role: "user", content: text }],
    };
    if (temperatureSet.checked) body.temperature = Number(temperature.value);
    const maxTokens = $("pg-max-tokens").value;
    if (maxTokens) body.max_tokens = Number(maxTokens);

    bubble("user", text);
    const turn = bubble("assistant", "");
    turn.classList.add("streaming");
    const out = turn.querySelector(".text");
    controller = new AbortController();
    $("pg-send").disabled = true;
    $("pg-stop").hidden = false;
    let answer = "";
    let usage = null;
    let servedBy = "";
    let failed = null;
    let response;
    try {
      response = await fetch(root.dataset.url, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRFToken": root.dataset.csrf },
        body: JSON.stringify(body),
        credentials: "same-origin",
        signal: controller.signal,
      });
      const type = response.headers.get("content-type") || "";
      if (!response.ok || !type.startsWith("text/event-stream")) {
        let payload = null;
        try { payload = await response.json(); } catch { /* not JSON */ }
        failed = errorText(payload, response.status);
      } else {
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let cut;
          while ((cut = buffer.indexOf("\n\n")) >= 0) {
            const event = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            for (const line of event.split("\n")) {
              if (!line.startsWith("data:")) continue;
              const data = line.slice(5).trim();
              if (data === "[DONE]") continue;
              let chunk;
              try { chunk = JSON.parse(data); } catch { continue; }
              if (chunk.error) { failed = errorText(chunk, null); continue; }
              const delta = chunk.choices && chunk.choices[0] && chunk.choices[0].delta;
              if (delta && delta.content) {
                answer += delta.content;
                out.textContent = answer;
              }
              if (chunk.usage) usage = chunk.usage;
              if (chunk.model && !servedBy) servedBy = chunk.model;
            }
          }
        }
      }
    } catch (error) {
      failed = error.name === "AbortError" ? "Stopped." : `Error: ${error.message}`;
    } finally {
      controller = null;
      $("pg-send").disabled = false;
      $("pg-stop").hidden = true;
      turn.classList.remove("streaming");
    }
    const parts = [];
    if (response) {
      // A router's pick comes as a header; a model asked for by name is that model (a
      // pass-through stream's chunks carry the upstream's own name for it).
      const model = response.headers.get("x-orca-resolved-model")
        || (body.target.startsWith("orcarouter/") ? servedBy : body.target);
      const id = response.headers.get("x-orca-request-id");
      if (model) parts.push(model);
      if (usage) {
        parts.push(`${usage.prompt_tokens ?? "?"} in / ${usage.completion_tokens ?? "?"} out tokens`);
        if (usage.cost !== undefined) parts.push(`$${usage.cost}`);
      }
      if (id) {
        const link = document.createElement("a");
        link.href = `${root.dataset.usageUrl}${encodeURIComponent(id)}/`;
        link.textContent = id;
        link.className = "request-id";
        parts.push(link);
      }
    }
    if (failed) {
      turn.classList.add("error");
      out.textContent = answer ? `${answer}\n\n${failed}` : failed;
    }
    if (parts.length) meta(turn, parts);
    if (!failed && answer) {
      history.push({ role: "user", content: text }, { role: "assistant", content: answer });
      turn.classList.add("done");
    } else {
      // A failed turn is not sent again: the next message goes with the earlier history.
      turn.classList.add("failed");
    }
  }

  composer?.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = prompt.value.trim();
    if (!text || controller) return;
    prompt.value = "";
    send(text);
  });
  prompt?.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      composer.requestSubmit();
    }
  });
  $("pg-stop")?.addEventListener("click", () => controller?.abort());
  $("pg-clear").addEventListener("click", () => {
    controller?.abort();
    history.length = 0;
    conversation.replaceChildren();
    const empty = document.createElement("p");
    empty.className = "muted";
    empty.id = "pg-empty";
    empty.textContent = "New conversation. Send a message to start.";
    conversation.append(empty);
  });
})();
