"""Which environment variables a deployment may set for its model server.

A variable that makes the dynamic loader or an interpreter load code from elsewhere (LD_PRELOAD,
PYTHONPATH, NODE_OPTIONS, ...) turns "configure a model server" into "run any code on the node", so those
are refused. The model roles repeat this list (playbooks import nothing from microdc): keep them in step.
"""

import re

# Whole families: every dynamic-loader variable of glibc and of macOS.
REFUSED_PREFIXES = ("LD_", "DYLD_")
REFUSED_NAMES = frozenset({
    # glibc loads modules from these.
    "GCONV_PATH", "LOCPATH", "HOSTALIASES",
    # Python
    "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "PYTHONINSPECT", "PYTHONEXECUTABLE",
    "PYTHONPLATLIBDIR", "PYTHONBREAKPOINT", "PYTHONSAFEPATH",
    # Perl, Ruby, Node, Java
    "PERL5LIB", "PERLLIB", "PERL5OPT", "PERL5DB", "RUBYOPT", "RUBYLIB", "NODE_OPTIONS", "NODE_PATH",
    "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS",
    # Shells: start-up files, options and the search path for every command the runtime starts.
    "BASH_ENV", "ENV", "SHELLOPTS", "BASHOPTS", "PS4", "IFS", "PATH",
    # OpenSSL loads engines and providers named in its configuration.
    "OPENSSL_CONF", "OPENSSL_ENGINES", "OPENSSL_MODULES",
})
_REFUSED = re.compile("^(" + "|".join(re.escape(p) for p in REFUSED_PREFIXES) + ")")


def refused(names) -> list[str]:
    """The names among these that a deployment may not set, sorted."""
    return sorted(n for n in names if n in REFUSED_NAMES or _REFUSED.match(n))
