"""The HTTP conventions every resource shares, through the real tree and site."""

import json

from twisted.internet import defer, task
from twisted.trial.unittest import SynchronousTestCase

from ganeti_rapi import auth, errors
from ganeti_rapi.web.base import READ_OR_WRITE, ApiContext, ApiResource, Gate
from ganeti_rapi.web.root import build_root
from tests.helpers import basic_auth, stub_treq

USERS = """\
# test users
writer wpass write
reader rpass read
plain ppass
both bpass read,write
"""

NOT_FOUND = {
    "code": 404,
    "message": "Not Found",
    "explain": "Nothing matches the given URI",
}


class EchoResource(ApiResource):
    """/2/echo: says what the base class made of a request."""

    def get(self, call):
        return {
            "body": call.body,
            "user": call.user.name if call.user else None,
            "bulk": call.flag("bulk"),
            "tags": call.string_list("tag"),
        }

    put = get

    def post(self, call):
        raise ValueError("handler bug")


class ReadResource(ApiResource):
    """/2/read: a GET that needs the read or write option."""

    get_access = READ_OR_WRITE

    def get(self, call):
        return call.user.name


class SlowResource(ApiResource):
    """/2/slow: answers when the test says so, or never."""

    def __init__(self, context):
        ApiResource.__init__(self, context)
        self.pending = []
        self.cancelled = []

    def get(self, call):
        d = defer.Deferred(lambda d: self.cancelled.append(d))
        self.pending.append(d)
        return d

    def put(self, call):
        return self._coroutine()

    async def _coroutine(self):
        await defer.succeed(None)
        raise errors.ServiceUnavailable("queue drained")


def make_tree(require_authentication=False, users=USERS):
    database = auth.UserDatabase.parse(users)
    context = ApiContext(Gate(database, require_authentication), clock=task.Clock())
    root = build_root(context)
    v2 = root.children[b"2"]
    v2.putChild(b"echo", EchoResource(context))
    v2.putChild(b"read", ReadResource(context))
    slow = SlowResource(context)
    v2.putChild(b"slow", slow)
    return root, slow


class ApiTestMixin:
    require_authentication = False
    site_kwargs = {}

    def setUp(self):
        self.root, self.slow = make_tree(self.require_authentication)
        self.client = stub_treq(self.root, **self.site_kwargs)

    def request(self, method, path, body=None, headers=None, user=None, json_body=True):
        headers = dict(headers or {})
        if user is not None:
            headers[b"authorization"] = basic_auth(*user)
        data = body
        if body is not None and json_body:
            data = json.dumps(body).encode("utf-8")
            headers.setdefault(b"content-type", b"application/json")
        response = self.successResultOf(
            self.client.request(
                method, "https://rapi.example" + path, data=data, headers=headers
            )
        )
        content = self.successResultOf(response.content())
        return response, (json.loads(content) if content else None)

    def assertError(self, result, code, message=None):
        response, body = result
        self.assertEqual(response.code, code)
        self.assertEqual(response.headers.getRawHeaders(b"content-type"), [b"application/json"])
        self.assertEqual(sorted(body), ["code", "explain", "message"])
        self.assertEqual(body["code"], code)
        if message is not None:
            self.assertEqual(body["message"], message)
        return body


class RootTests(ApiTestMixin, SynchronousTestCase):
    def test_version(self):
        """GET /version answers the integer 2 as JSON."""
        response, body = self.request("GET", "/version")
        self.assertEqual(response.code, 200)
        self.assertEqual(body, 2)
        self.assertEqual(
            response.headers.getRawHeaders(b"content-type"), [b"application/json"]
        )

    def test_roots_are_null(self):
        """GET / and GET /2 answer null, as Ganeti has since 2.6."""
        self.assertEqual(self.request("GET", "/")[1], None)
        self.assertEqual(self.request("GET", "/2")[0].code, 200)
        self.assertEqual(self.request("GET", "/2")[1], None)

    def test_features_without_cluster(self):
        """With nothing behind the API, no optional feature is claimed."""
        self.assertEqual(self.request("GET", "/2/features")[1], [])

    def test_unknown_path(self):
        """An unknown URI is a JSON 404 with the texts clients match on."""
        body = self.assertError(self.request("GET", "/2/nonexistent"), 404)
        self.assertEqual(body, NOT_FOUND)

    def test_trailing_slash(self):
        """A trailing slash is not tolerated, as in Ganeti."""
        self.assertError(self.request("GET", "/2/"), 404)
        self.assertError(self.request("GET", "/version/"), 404)

    def test_unsupported_method(self):
        """A method the resource lacks is a 501 naming method and path."""
        self.assertError(
            self.request("PUT", "/version"),
            501,
            "Method PUT is unsupported for path /version",
        )
        self.assertError(self.request("PATCH", "/2/echo"), 501)

    def test_server_header(self):
        """Responses name our server."""
        response, _ = self.request("GET", "/version")
        self.assertTrue(
            response.headers.getRawHeaders(b"server")[0].startswith(b"ganeti-rapi/")
        )


class AccessTests(ApiTestMixin, SynchronousTestCase):
    def assertChallenge(self, result):
        body = self.assertError(result, 401, "Unauthorized")
        self.assertEqual(
            result[0].headers.getRawHeaders(b"www-authenticate"),
            [b'Basic realm="Ganeti Remote API"'],
        )
        return body

    def test_anonymous_read(self):
        """Anybody may GET an anonymous resource."""
        response, body = self.request("GET", "/2/echo")
        self.assertEqual(response.code, 200)
        self.assertIsNone(body["user"])

    def test_anonymous_write(self):
        """A write without credentials is a 401 with the realm challenge."""
        self.assertChallenge(self.request("PUT", "/2/echo"))

    def test_writer_writes(self):
        """A user with the write option may write."""
        response, body = self.request("PUT", "/2/echo", user=("writer", "wpass"))
        self.assertEqual((response.code, body["user"]), (200, "writer"))

    def test_read_only_user_write(self):
        """Known users without the write option get 403 and no challenge."""
        for user in [("reader", "rpass"), ("plain", "ppass")]:
            result = self.request("PUT", "/2/echo", user=user)
            self.assertError(result, 403, "Forbidden")
            self.assertIsNone(result[0].headers.getRawHeaders(b"www-authenticate"))

    def test_wrong_password(self):
        """A wrong password is a 401 even on a resource anybody may read."""
        self.assertChallenge(self.request("GET", "/2/echo", user=("writer", "nope")))
        self.assertChallenge(self.request("PUT", "/2/echo", user=("writer", "nope")))
        self.assertChallenge(self.request("GET", "/2/echo", user=("nobody", "x")))

    def test_read_option(self):
        """A resource needing read access takes read or write users, not others."""
        self.assertChallenge(self.request("GET", "/2/read"))
        self.assertEqual(self.request("GET", "/2/read", user=("reader", "rpass"))[1], "reader")
        self.assertEqual(self.request("GET", "/2/read", user=("both", "bpass"))[1], "both")
        self.assertEqual(self.request("GET", "/2/read", user=("writer", "wpass"))[1], "writer")
        self.assertError(self.request("GET", "/2/read", user=("plain", "ppass")), 403)

    def test_basic_without_token(self):
        """Basic with no credentials token is a 400, as in Ganeti."""
        self.assertError(
            self.request("GET", "/2/echo", headers={b"authorization": b"Basic"}),
            400,
            "Basic authentication requires credentials",
        )

    def test_bad_credentials(self):
        """Other schemes, bad base64 and tokens without a colon are 401s."""
        for value in [b"Digest abc", b"Basic !!!notbase64", b"Basic dXNlcg=="]:
            self.assertChallenge(
                self.request("PUT", "/2/echo", headers={b"authorization": value})
            )

    def test_scheme_case(self):
        """The scheme name is compared case-insensitively."""
        header = basic_auth("writer", "wpass").replace(b"Basic", b"bAsIc")
        response, _ = self.request("PUT", "/2/echo", headers={b"authorization": header})
        self.assertEqual(response.code, 200)

    def test_order_without_require_authentication(self):
        """Without the flag, unknown paths and methods answer before auth."""
        self.assertError(self.request("PUT", "/2/nonexistent"), 404)
        self.assertError(self.request("DELETE", "/version"), 501)


class RequireAuthenticationTests(ApiTestMixin, SynchronousTestCase):
    require_authentication = True

    def test_anonymous_read_refused(self):
        """With --require-authentication an anonymous read is a 401."""
        self.assertError(self.request("GET", "/"), 401)
        self.assertError(self.request("GET", "/2/features"), 401)
        self.assertError(self.request("GET", "/2/echo"), 401)

    def test_version_for_the_watcher(self):
        """GET /version answers 2 without credentials all the same, as
        ganeti-watcher's liveness probe needs; sent credentials still count."""
        response, body = self.request("GET", "/version")
        self.assertEqual((response.code, body), (200, 2))
        self.assertEqual(
            response.headers.getRawHeaders(b"content-type"), [b"application/json"]
        )
        self.assertEqual(self.request("GET", "/version", user=("writer", "wpass"))[1], 2)
        self.assertError(self.request("GET", "/version", user=("writer", "nope")), 401)
        self.assertError(self.request("PUT", "/version"), 401)
        self.assertError(self.request("GET", "/version/x"), 401)

    def test_credentials_first(self):
        """Unauthenticated requests get 401 before 404 and 501."""
        self.assertError(self.request("GET", "/2/nonexistent"), 401)
        self.assertError(self.request("PUT", "/version"), 401)

    def test_any_known_user_reads(self):
        """Any user with valid credentials may read; writes still need write."""
        user = ("plain", "ppass")
        self.assertEqual(self.request("GET", "/version", user=user)[1], 2)
        self.assertError(self.request("GET", "/2/nonexistent", user=user), 404)
        self.assertError(self.request("PUT", "/2/echo", user=user), 403)


class BodyTests(ApiTestMixin, SynchronousTestCase):
    def test_json_object(self):
        """An object body reaches the handler decoded."""
        _, body = self.request("GET", "/2/echo", body={"a": [1, 2]})
        self.assertEqual(body["body"], {"a": [1, 2]})

    def test_lenient_scalars(self):
        """A bare string, number or null is a valid body."""
        for value in ["text", 42, 1.5, None, True]:
            _, body = self.request(
                "GET", "/2/echo", body=json.dumps(value).encode(), json_body=False,
                headers={b"content-type": b"application/json"},
            )
            self.assertEqual(body["body"], value)

    def test_nan(self):
        """NaN and Infinity are accepted as Python's json accepts them."""
        _, body = self.request(
            "GET", "/2/echo", body=b"[NaN]", json_body=False,
            headers={b"content-type": b"application/json"},
        )
        self.assertEqual(len(body["body"]), 1)

    def test_empty_body(self):
        """An empty body with a JSON content type means no body."""
        _, body = self.request(
            "GET", "/2/echo", body=b"", json_body=False,
            headers={b"content-type": b"application/json"},
        )
        self.assertIsNone(body["body"])

    def test_no_body_any_type(self):
        """Without a body the content type does not matter."""
        response, _ = self.request(
            "GET", "/2/echo", headers={b"content-type": b"text/html"}
        )
        self.assertEqual(response.code, 200)

    def test_not_json_content_type(self):
        """A body of another type is a 415, also on GET."""
        self.assertError(
            self.request("GET", "/2/echo", body=b"{}", json_body=False,
                         headers={b"content-type": b"text/plain"}),
            415, "Unsupported Media Type",
        )
        self.assertError(
            self.request("PUT", "/2/echo", body=b"{}", json_body=False,
                         user=("writer", "wpass")),
            415,
        )

    def test_charset_parameter(self):
        """application/json with a charset parameter is JSON."""
        _, body = self.request(
            "GET", "/2/echo", body=b'"x"', json_body=False,
            headers={b"content-type": b"Application/JSON; charset=utf-8"},
        )
        self.assertEqual(body["body"], "x")

    def test_bad_json(self):
        """A body that is not JSON is a 400."""
        self.assertError(
            self.request("GET", "/2/echo", body=b"{not json", json_body=False,
                         headers={b"content-type": b"application/json"}),
            400, "Unable to parse JSON data",
        )


class TooLargeTests(ApiTestMixin, SynchronousTestCase):
    site_kwargs = {"max_body": 1000}

    def test_too_large(self):
        """A body over the limit is a JSON 413 and never reaches a handler."""
        result = self.request("PUT", "/2/echo", body=b"x" * 1001, json_body=False,
                              headers={b"content-type": b"application/json"},
                              user=("writer", "wpass"))
        self.assertError(result, 413)

    def test_at_limit(self):
        """A body exactly at the limit is accepted."""
        data = json.dumps("x" * 998).encode()
        self.assertEqual(len(data), 1000)
        response, body = self.request(
            "PUT", "/2/echo", body=data, json_body=False,
            headers={b"content-type": b"application/json"}, user=("writer", "wpass"),
        )
        self.assertEqual(response.code, 200)


class QueryTests(ApiTestMixin, SynchronousTestCase):
    def test_flag_values(self):
        """Flags are integers: non-zero is true, absent or blank is false."""
        for query, expected in [("", False), ("?bulk=1", True), ("?bulk=0", False),
                                ("?bulk=007", True), ("?bulk=-1", True),
                                ("?bulk=", False), ("?bulk=%201%20", True)]:
            self.assertEqual(self.request("GET", "/2/echo" + query)[1]["bulk"], expected, query)

    def test_bad_flag(self):
        """A flag that is not an integer is a 400 naming it, HTML-escaped."""
        for value in ["true", "yes", "1.0"]:
            self.assertError(
                self.request("GET", "/2/echo?bulk=" + value), 400,
                "Invalid value for the &#x27;bulk&#x27; parameter",
            )

    def test_repeated_and_unknown(self):
        """Repeated tags are all kept; unknown parameters are ignored."""
        _, body = self.request("GET", "/2/echo?tag=a&no-remember=1&tag=b+c&tag=")
        self.assertEqual(body["tags"], ["a", "b c"])


class AsyncTests(ApiTestMixin, SynchronousTestCase):
    def test_deferred_result(self):
        """A Deferred result is answered when it fires."""
        d = self.client.get("https://rapi.example/2/slow")
        self.client.flush()
        self.assertNoResult(d)
        self.slow.pending[0].callback({"done": True})
        self.client.flush()
        response = self.successResultOf(d)
        self.assertEqual(self.successResultOf(response.json()), {"done": True})

    def test_coroutine_error(self):
        """A coroutine handler's HTTP error becomes its JSON error body."""
        self.assertError(
            self.request("PUT", "/2/slow", user=("writer", "wpass")), 503, "queue drained"
        )

    def test_unexpected_error(self):
        """An unexpected exception is a JSON 500 and is logged."""
        self.assertError(
            self.request("POST", "/2/echo", user=("writer", "wpass")), 500,
            "Internal Server Error",
        )
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)

    def test_disconnect_cancels(self):
        """A client that leaves cancels the handler's work."""
        d = self.client.get("https://rapi.example/2/slow")
        self.client.flush()
        self.assertEqual(len(self.slow.pending), 1)
        d.cancel()
        self.client.flush()
        self.failureResultOf(d)
        self.assertEqual(self.slow.cancelled, self.slow.pending)


class NotFoundBodyTests(SynchronousTestCase):
    def test_unknown_objects(self):
        """A missing instance, node, group or job is Ganeti's plain 404, whose
        text clients match whole ("404 Not Found: Nothing matches the given URI")."""
        from tests.helpers import EngineFixture, FakeNodes

        api = EngineFixture(self, nodes=FakeNodes())
        for path in ("/2/instances/nosuch", "/2/nodes/nosuch", "/2/groups/nosuch",
                     "/2/jobs/999", "/2/instances/nosuch/tags"):
            self.assertEqual(api.request("GET", path, user=None), (404, NOT_FOUND), path)
        self.assertEqual(
            api.request("GET", "/2/jobs/999/wait",
                        body={"fields": ["status"], "previous_job_info": None,
                              "previous_log_serial": None}),
            (404, NOT_FOUND),
        )
