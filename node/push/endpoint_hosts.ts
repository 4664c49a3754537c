/**
 * Which hosts a Web Push subscription endpoint may point at. The endpoint comes from the
 * client (the browser's PushSubscription), and the node POSTs to it with its VAPID
 * signature: without a list, any user could make the node send requests to any https
 * host it can reach, internal services included (server-side request forgery). A real
 * subscription always names its browser vendor's push service, so the default lists
 * those; an operator adds a self-hosted push service, or empties the list to accept any
 * host (closed deployments only).
 *
 * Checked where a subscription is registered (node/push/registration.ts: the client gets
 * invalid_argument) and again where it is sent (providers/webpush.ts: a subscription
 * stored before the list changed is rejected unsent).
 */

/**
 * The browsers' push services: Chrome, Opera, Samsung Internet and other Chromium
 * browsers (FCM), Firefox (Mozilla autopush), Safari 16+ (Apple), Edge (WNS, one host
 * per region under notify.windows.com).
 */
export const DEFAULT_WEBPUSH_HOSTS: readonly string[] = ['fcm.googleapis.com', 'updates.push.services.mozilla.com', 'web.push.apple.com', '*.notify.windows.com'];

/** A list entry: a host name or IP address, or `*.` and a domain (any host under it, not the domain itself). */
const ENTRY = /^(\*\.)?[a-z0-9-]+(\.[a-z0-9-]+)*$|^\[[0-9a-f:.]+\]$/;

export function isHostPattern(entry: string): boolean {
  return ENTRY.test(entry);
}

/** True when `hostname` (as URL.hostname gives it: lower case, IPv6 in brackets) is on the list; an empty list allows any. */
export function hostAllowed(hostname: string, allowed: readonly string[]): boolean {
  if (allowed.length === 0) return true;
  const host = hostname.toLowerCase().replace(/\.$/, '');
  for (const a of allowed) {
    if (a.startsWith('*.') ? host.endsWith(a.slice(1)) && host.length > a.length - 1 : host === a) return true;
  }
  return false;
}
