// The join form of every page (a name in, a session out): its markup and its submit have one owner here.
// Each page keeps its own `<section id="login">` and heading; every message is set with textContent.

/** `el("p", { class: "error", text: "…" }, ...children)`: an element with attributes and children. */
export const el = (tag, props = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
};

/** Add the join form to `section`; `onJoined()` once `client` has logged in, a refusal shown under the form. */
export function joinForm(section, client, onJoined) {
  const name = el("input", { id: "name", name: "name", maxlength: "64", required: "", placeholder: "e.g. Ada" });
  const error = el("p", { id: "login-error", class: "error", "aria-live": "polite" });
  const form = el("form", { id: "login-form", autocomplete: "off" },
    el("label", { for: "name", text: "Your name" }),
    el("div", { class: "row" }, name, el("button", { type: "submit", text: "Join" })),
    error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    try {
      await client.login(name.value);
    } catch (e) {
      error.textContent = e.detail;
      return;
    }
    onJoined();
  });
  section.append(form);
}
