"""A headless stand-in for the user's browser in the OAuth tests: opens a URL, follows redirects
with a cookie jar, submits each page's form (the sign-in button, then "Allow" on the consent
page, or the device code), and stops at a page without a form (the device flow's end), or at the first redirect that leaves the server (the client's
callback), which it then opens so the client receives the code.

  browser.py URL [--deny] [--user-code CODE] [--stop-at PREFIX]

Prints each step on stderr and, on stdout, the final URL. Exits 1 when a page has no form and
no redirect (an error page), printing its text. Standard library only."""
import html.parser
import http.cookiejar
import sys
import urllib.error
import urllib.parse
import urllib.request


class Form(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.action, self.fields, self.buttons, self.text = None, {}, [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and self.action is None:
            self.action = a.get("action", "")
        elif tag == "input" and a.get("name"):
            self.fields[a["name"]] = a.get("value", "")
        elif tag == "button":
            self.buttons.append((a.get("name"), a.get("value")))

    def handle_data(self, data):
        self.text.append(data)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def main():
    args = sys.argv[1:]
    url, deny, user_code, stop_at = args[0], "--deny" in args, None, None
    if "--user-code" in args:
        user_code = args[args.index("--user-code") + 1]
    if "--stop-at" in args:
        stop_at = args[args.index("--stop-at") + 1]
    origin = urllib.parse.urlsplit(url)[:2]
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)
    data = None
    for _ in range(20):
        print(("POST " if data else "GET ") + url, file=sys.stderr)
        if stop_at and url.startswith(stop_at):
            print(url)
            return
        try:
            response = opener.open(urllib.request.Request(url, data=data), timeout=30)
            status, headers, body = response.status, response.headers, response.read()
        except urllib.error.HTTPError as e:
            status, headers, body = e.code, e.headers, e.read()
        data = None
        location = headers.get("Location")
        if status in (301, 302, 303, 307, 308) and location:
            url = urllib.parse.urljoin(url, location)
            if urllib.parse.urlsplit(url)[:2] != origin and not stop_at:
                # The client's callback: open it once so the client gets the code.
                try:
                    urllib.request.urlopen(url, timeout=30).read()
                except urllib.error.URLError as e:
                    print(f"callback: {e}", file=sys.stderr)
                print(url)
                return
            continue
        form = Form()
        form.feed(body.decode("utf-8", "replace"))
        if form.action is None:
            # A page without a form: the end ("Device connected") or an error page.
            print(f"{status}: {' '.join(''.join(form.text).split())[-300:]}", file=sys.stderr)
            if status != 200:
                sys.exit(1)
            print(url)
            return
        fields = dict(form.fields)
        if "user_code" in fields and user_code:
            fields["user_code"] = user_code
        for name, value in form.buttons:
            if name and value in (("deny",) if deny else ("approve",)):
                fields[name] = value
        url = urllib.parse.urljoin(url, form.action)
        data = urllib.parse.urlencode(fields).encode()
    sys.exit("browser: too many steps")


main()
