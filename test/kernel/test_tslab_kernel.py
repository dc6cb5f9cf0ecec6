"""Jupyter protocol checks of the project's tslab kernel (jupyter_kernel_test 0.4.5, Debian's python3-jupyter-kernel-test).

    source scripts/env.sh && $PY test/kernel/test_tslab_kernel.py -v

(Run it as a script: `python -m unittest test/kernel/test_tslab_kernel.py` would look for the module
`test.kernel.test_tslab_kernel` in the standard library's own `test` package.)

tslab 1.0.22 has known gaps. Their standard tests are marked expectedFailure, so that a fixed tslab shows up as
"unexpected success" (time to drop the workaround), and each gap has a test of what tslab does instead, which the
notebook tooling relies on. patches/tslab+1.0.22.patch closes some gaps: a cell that throws sends an `error` message
(test_error passes); compile errors stay stderr text, with ename "CompileError" in the error reply.
"""
import os
import queue
import time
import unittest

import jupyter_kernel_test
from jupyter_kernel_test.msgspec_v5 import validate_message

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# tslab answers other requests within milliseconds; waiting the library's 15 s for a reply that never comes is waste.
UNANSWERED_REQUEST_TIMEOUT_S = 3
# After a failed cell, tslab aborts every execute_request that arrives within 200 ms (tslab issue #19: the rest of a
# Run All may still be on its way), so a test that follows a failure waits that window out.
ABORT_WINDOW_S = 0.5


class TslabKernelTests(jupyter_kernel_test.KernelTests):
    kernel_name = "tslab"
    language_name = "typescript"
    file_extension = ".ts"

    code_hello_world = 'console.log("hello, world")'
    code_stderr = 'console.error("to stderr")'
    completion_samples = [{"text": "Math.fl", "matches": {"floor"}}]
    complete_code_samples = ["1 + 1", "const x = 1;", "function f() { return 1; }"]
    incomplete_code_samples = ["function f() {", "const a = [1,"]
    # tslab never answers "invalid": a syntax error only shows when the cell runs.
    invalid_code_samples = []
    code_inspect_sample = "Math.max"
    code_display_data = [
        {"code": 'import * as tslab from "tslab"; tslab.display.html("<b>bold</b>")', "mime": "text/html"},
        {"code": 'import * as tslab from "tslab"; tslab.display.markdown("*it*")', "mime": "text/markdown"},
    ]
    code_generate_error = 'throw new Error("deliberate failure")'
    code_execute_result = [{"code": "1 + 2", "result": "3"}]
    # tslab has no pager payloads and no clear_output API: test_pager and test_clear_output skip.

    def execute_helper(self, code, **kwargs):
        reply, output_msgs = super().execute_helper(code, **kwargs)
        if reply["content"]["status"] == "error":
            time.sleep(ABORT_WINDOW_S)
        return reply, output_msgs

    @unittest.expectedFailure
    def test_kernel_info(self):
        """tslab 1.0.22: kernel_info_reply has no "status" field, so the message schema check fails."""
        super().test_kernel_info()

    def test_kernel_info_identifies_tslab(self):
        self.flush_channels()
        self.kc.kernel_info()
        content = self.kc.get_shell_msg(timeout=jupyter_kernel_test.TIMEOUT)["content"]
        self.assertEqual(content["implementation"], "tslab")
        self.assertEqual(content["language_info"]["name"], "typescript")
        self.assertEqual(content["language_info"]["file_extension"], ".ts")

    def test_error_names_the_cell_line(self):
        self.flush_channels()
        reply, output_msgs = self.execute_helper('const n = 1;\nthrow new RangeError("deliberate failure " + n)')
        self.assertEqual(reply["content"]["status"], "error")
        error = output_msgs[0]["content"]
        self.assertEqual((error["ename"], error["evalue"]), ("RangeError", "deliberate failure 1"))
        self.assertEqual(reply["content"]["traceback"], error["traceback"])
        self.assertRegex(error["traceback"][1], r"^    at cell \[\d+\]:2:7$")

    def test_type_error_fails_the_cell(self):
        self.flush_channels()
        reply, output_msgs = self.execute_helper('const n: number = "text";')
        self.assertEqual(reply["content"]["status"], "error")
        self.assertEqual(reply["content"]["ename"], "CompileError")
        self.assertEqual(reply["content"]["evalue"], "1:7 - Type 'string' is not assignable to type 'number'.")
        stderr = [msg["content"]["text"] for msg in output_msgs if msg["msg_type"] == "stream"]
        self.assertEqual(stderr, [reply["content"]["evalue"] + "\n"])
        self.assertEqual([msg["content"]["name"] for msg in output_msgs], ["stderr"])

    @unittest.expectedFailure
    def test_execute_result(self):
        """tslab 1.0.22: a cell's last value is printed to stdout; there is no execute_result message."""
        super().test_execute_result()

    def test_last_value_on_stdout(self):
        self.flush_channels()
        reply, output_msgs = self.execute_helper("1 + 2")
        self.assertEqual(reply["content"]["status"], "ok")
        stdout = [msg["content"]["text"] for msg in output_msgs if msg["msg_type"] == "stream"]
        self.assertEqual(stdout, ["3\n"])

    @unittest.expectedFailure
    def test_history(self):
        """tslab 1.0.22 does not implement history_request (it logs "unknown msg_type"), so no reply ever comes."""
        self.flush_channels()
        self.execute_helper(self.code_execute_result[0]["code"])
        msg_id = self.kc.history(hist_access_type="tail", n=1, output=False, raw=True)
        try:
            reply = self.get_non_kernel_info_reply(timeout=UNANSWERED_REQUEST_TIMEOUT_S)
        except queue.Empty:
            self.fail(f"no history_reply within {UNANSWERED_REQUEST_TIMEOUT_S} s")
        validate_message(reply, "history_reply", msg_id)

    def test_kernel_starts_in_project_root(self):
        """The kernelspec cds to the project root, so notebooks in any folder import "./src/..." and "./kernel-ext/index"."""
        self.flush_channels()
        reply, output_msgs = self.execute_helper("console.log(process.cwd())")
        self.assertEqual(reply["content"]["status"], "ok")
        self.assertEqual(output_msgs[0]["content"]["text"].strip(), PROJECT_ROOT)

    @unittest.expectedFailure
    def test_directory_import(self):
        """tslab 1.0.22 finds the modules it compiled only by file name: "./kernel-ext" type-checks, then fails
        with "Cannot find module"; notebooks import "./kernel-ext/index"."""
        self.flush_channels()
        reply, output_msgs = self.execute_helper('import { show } from "./kernel-ext"; console.log(typeof show)')
        self.assertEqual(reply["content"]["status"], "ok", output_msgs)

    def test_update_display_data(self):
        """kernel-ext's progress bar replaces its output in place through tslab's display ids."""
        self.flush_channels()
        code = 'import * as tslab from "tslab"; const d = tslab.newDisplay(); d.text("first"); d.text("second");'
        reply, output_msgs = self.execute_helper(code)
        self.assertEqual(reply["content"]["status"], "ok")
        kinds = [msg["msg_type"] for msg in output_msgs]
        self.assertEqual(kinds, ["display_data", "update_display_data"])
        ids = {msg["content"]["transient"]["display_id"] for msg in output_msgs}
        self.assertEqual(len(ids), 1)


if __name__ == "__main__":
    unittest.main()
