// HTML of the emulator's hosted UI: the sign-in page and the error page.
// Every value that reaches the page goes through escapeHtml; no token or secret ever does.

export function escapeHtml(value) {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ({
    '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
  })[c]);
}

const STYLE = `
  body { font-family: system-ui, sans-serif; background: #f2f3f3; margin: 0; }
  main { max-width: 360px; margin: 64px auto; background: #fff; padding: 28px 32px;
         border-radius: 6px; box-shadow: 0 1px 4px rgba(0,0,0,.2); }
  h1 { font-size: 20px; margin: 0 0 4px; } p.sub { color: #555; margin: 0 0 18px; font-size: 14px; }
  label { display: block; font-size: 14px; margin: 12px 0 4px; }
  input { width: 100%; box-sizing: border-box; padding: 8px; font-size: 15px; }
  button { margin-top: 20px; width: 100%; padding: 10px; background: #ec7211; color: #fff;
           border: 0; border-radius: 3px; font-size: 15px; cursor: pointer; }
  .hint { background: #eef4fb; color: #1d3b5e; padding: 10px; border-radius: 3px; font-size: 13px;
          white-space: pre-line; }
  .error { background: #fdecea; color: #b3261e; padding: 10px; border-radius: 3px; font-size: 14px; }
  footer { color: #777; font-size: 12px; margin-top: 18px; }`;

function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body><main>${body}<footer>Local Cognito emulator (jupyter_ai_access) — not a real user pool</footer></main></body></html>`;
}

export function loginPage({ uid, clientName, realm, error, username, action = '/login', hint = '' }) {
  const heading = realm === 'COGNITO' ? 'Sign in with your username and password' : `Sign in with ${realm}`;
  return page('Signin', `
<h1>${escapeHtml(heading)}</h1>
<p class="sub">to continue to ${escapeHtml(clientName)}</p>
${error ? `<p class="error" id="loginErrorMessage" role="alert">${escapeHtml(error)}</p>` : ''}
${hint ? `<p class="hint" id="loginHint">${escapeHtml(hint)}</p>` : ''}
<form method="post" action="${escapeHtml(action)}?interaction=${encodeURIComponent(uid)}" autocomplete="off">
  <label for="signInFormUsername">Username</label>
  <input id="signInFormUsername" name="username" type="text" value="${escapeHtml(username)}" required autofocus>
  <label for="signInFormPassword">Password</label>
  <input id="signInFormPassword" name="password" type="password" required>
  <button type="submit" name="signInSubmitButton">Sign in</button>
</form>`);
}

export function errorPage(error, description) {
  return page('Error', `
<h1>An error was encountered with the requested page.</h1>
<p class="error" id="errorMessage">${escapeHtml(error)}${description ? `: ${escapeHtml(description)}` : ''}</p>`);
}
