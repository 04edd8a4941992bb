// Progressive enhancement only: every form works without JavaScript.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const text = document.querySelector(button.dataset.copy)?.textContent?.trim() ?? "";
  navigator.clipboard?.writeText(text).then(() => { button.textContent = "Copied"; });
});
