// entry.js — what the room page adds for scheduled rooms and the entry form:
// a page saying when the room opens (in the visitor's local time) or that it
// closed, the extra join fields (email, avatar URL, password when private),
// and the entry details next to members for the agent.

const $ = (id) => document.getElementById(id);

const EMAIL_RE = /^[^\s@<>",;]+@[^\s@<>",;]+\.[^\s@<>",;]+$/;

function clockOffset(info) {
  const n = Number(info && info.nowMs);
  return Number.isFinite(n) && n > 0 ? n - Date.now() : 0;
}

function longTime(ms) {
  return new Date(ms).toLocaleString([], { weekday: 'long', year: 'numeric', month: 'long', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

function until(ms) {
  const m = Math.max(1, Math.round(ms / 60000));
  if (m < 60) return `${m} minute${m === 1 ? '' : 's'}`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} hour${h === 1 ? '' : 's'}${m % 60 ? ` ${m % 60} min` : ''}`;
  const d = Math.round(h / 24);
  return `${d} days`;
}

/**
 * Keeps visitors out of a scheduled room before and after its window. Returns
 * true when the join form may be shown now; otherwise shows the schedule
 * page, and calls open() by itself once the room opens.
 */
export function gateSchedule(info, isAgent, open) {
  if (isAgent || !info) return true;
  const start = Number(info.startsAtMs) || 0;
  const end = Number(info.endsAtMs) || 0;
  const offset = clockOffset(info);
  const now = Date.now() + offset;
  const panel = $('schedule-panel');
  const title = $('schedule-title');
  const text = $('schedule-text');
  if (end && now >= end) {
    title.textContent = 'This room is closed';
    text.textContent = `The meeting ended on ${longTime(end)}.`;
    panel.hidden = false;
    document.body.dataset.state = 'closed';
    return false;
  }
  if (start && now < start) {
    title.textContent = 'This room is not open yet';
    const tick = () => {
      const left = start - (Date.now() + offset);
      if (left <= 0) {
        panel.hidden = true;
        open();
        return;
      }
      text.textContent = `It opens on ${longTime(start)} (in ${until(left)}). This page lets you in when it opens.`;
      // Re-check at least every 30 s: timers drift while a phone sleeps.
      setTimeout(tick, Math.min(left, 30000));
    };
    panel.hidden = false;
    document.body.dataset.state = 'not-open';
    tick();
    return false;
  }
  return true;
}

let form = null; // the room's entry form while the visitor fills it in

/** Shows the entry form's fields for a visitor. */
export function setupEntry(info, isAgent) {
  form = !isAgent && info && info.entryForm && info.entryForm.enabled ? info.entryForm : null;
  const show = (id, on, required) => {
    $(id).hidden = !on;
    const input = $(id).querySelector('input');
    input.required = Boolean(on && required);
    const opt = $(id).querySelector('.optional');
    if (opt) opt.hidden = Boolean(required);
  };
  show('join-email-field', form && form.showEmail, form && form.required);
  show('join-avatar-field', form && form.showAvatar, form && form.required);
  if (form && form.private) $('join-password-field').hidden = false;
  if (!form) return;
  try {
    $('join-email').value ||= localStorage.getItem('liveroom:email') || '';
    $('join-avatar').value ||= localStorage.getItem('liveroom:avatar') || '';
  } catch {
    /* storage blocked */
  }
}

/** Returns what is wrong with the entry form, or '' when it may be sent. */
export function checkEntry() {
  if (!form) return '';
  const email = $('join-email');
  const avatar = $('join-avatar');
  for (const i of [email, avatar]) i.removeAttribute('aria-invalid');
  const bad = (input, message) => {
    input.setAttribute('aria-invalid', 'true');
    input.focus();
    return message;
  };
  const e = email.value.trim();
  const a = avatar.value.trim();
  if (form.showEmail) {
    if (!e && form.required) return bad(email, 'Please enter your email address.');
    if (e && (e.length > 254 || !EMAIL_RE.test(e))) return bad(email, 'Please enter a valid email address.');
  }
  if (form.showAvatar) {
    if (!a && form.required) return bad(avatar, 'Please enter the address of your avatar image.');
    if (a) {
      let ok = false;
      try {
        const u = new URL(a);
        ok = (u.protocol === 'https:' || u.protocol === 'http:') && a.length <= 2048;
      } catch {
        ok = false;
      }
      if (!ok) return bad(avatar, 'The avatar must be an http:// or https:// address.');
    }
  }
  if (form.private && !$('join-password').value && !$('join-password-field').hidden && form.required) {
    return bad($('join-password'), 'Please enter the room password.');
  }
  try {
    if (e) localStorage.setItem('liveroom:email', e);
    if (a) localStorage.setItem('liveroom:avatar', a);
  } catch {
    /* not fatal */
  }
  return '';
}

/** The entry fields to add to the join frame. */
export function entryFields() {
  if (!form) return {};
  const out = {};
  const e = $('join-email').value.trim();
  const a = $('join-avatar').value.trim();
  if (form.showEmail && e) out.email = e;
  if (form.showAvatar && a) out.avatarUrl = a;
  return out;
}

/** Adds avatar and email (agents only receive emails) to a member's item. */
export function decorateMember(li, m) {
  if (m.avatarUrl && /^https?:\/\//i.test(m.avatarUrl)) {
    const img = document.createElement('img');
    img.className = 'member-avatar';
    img.src = m.avatarUrl;
    img.alt = '';
    img.referrerPolicy = 'no-referrer';
    li.prepend(img, ' ');
  }
  if (m.email) {
    const a = document.createElement('a');
    a.className = 'member-email';
    a.href = `mailto:${m.email}`;
    a.textContent = m.email;
    li.append(' ', a);
  }
}

/**
 * Returns "video" or "audio" once when the link asked for a call (a visitor
 * chose a video or audio call on the contact button), and removes the hint
 * from the address so a reload does not ring again.
 */
export function takeCallHint() {
  const params = new URLSearchParams(location.hash.slice(1));
  const hint = params.get('call');
  if (!hint) return '';
  params.delete('call');
  const rest = params.toString();
  history.replaceState(null, '', location.pathname + location.search + (rest ? `#${rest}` : ''));
  return hint === 'video' || hint === 'audio' ? hint : '';
}
