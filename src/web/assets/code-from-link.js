// Invitation and reset links carry their code in the fragment (`/accept-invite#<code>`), which
// browsers never send to the server, so the code never reaches a log. This puts it in the form
// and takes it out of the address bar; without JavaScript the person copies the code in.
const input = document.querySelector('[data-code-from-link]');
if (input && !input.value && location.hash.length > 1) {
  input.value = decodeURIComponent(location.hash.slice(1));
  history.replaceState(null, '', location.pathname);
}
