// The guardrail editor's sandbox: as the user types (debounced), posts the text and the
// rules in the editor's textarea to the dashboard's sandbox endpoint (CSRF token in a
// header) and shows the decision, the masked text and the matches. No libraries.
(() => {
  const box = document.getElementById("sandbox");
  if (!box) return;
  const $ = (id) => document.getElementById(id);
  const text = $("sandbox-text");
  const stage = $("sandbox-stage");
  const rules = document.querySelector("#guardrail-form textarea[name=rules]");
  const decision = $("sandbox-decision");
  const masked = $("sandbox-masked");
  const list = $("sandbox-matches");
  const error = $("sandbox-error");
  const DELAY_MS = 300;
  let timer = null;
  let controller = null;

  const show = (result) => {
    decision.textContent = result.decision;
    decision.dataset.decision = result.decision;
    masked.textContent = result.masked_text;
    list.replaceChildren(
      ...result.matches.map((match) => {
        const item = document.createElement("li");
        const what = [`rule ${match.rule_index} (${match.type})`, match.action, match.entity || match.detail];
        if (match.text !== undefined) what.push(`“${match.text}”`);
        item.textContent = what.filter(Boolean).join(" · ");
        return item;
      }),
    );
  };

  async function run() {
    let parsedRules;
    try {
      parsedRules = JSON.parse(rules && rules.value.trim() ? rules.value : "[]");
    } catch (problem) {
      error.textContent = "The rules are not valid JSON.";
      return;
    }
    controller?.abort();
    controller = new AbortController();
    try {
      const response = await fetch(box.dataset.url, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRFToken": box.dataset.csrf },
        body: JSON.stringify({ text: text.value, stage: stage.value, rules: parsedRules }),
        credentials: "same-origin",
        signal: controller.signal,
      });
      const payload = await response.json();
      if (!response.ok) {
        error.textContent = payload.error ? payload.error.message : `Error ${response.status}`;
        return;
      }
      error.textContent = "";
      show(payload);
    } catch (problem) {
      if (problem.name !== "AbortError") error.textContent = "The sandbox did not answer.";
    }
  }

  const later = () => {
    clearTimeout(timer);
    timer = setTimeout(run, DELAY_MS);
  };
  text.addEventListener("input", later);
  stage.addEventListener("change", later);
  rules?.addEventListener("input", later);
})();
