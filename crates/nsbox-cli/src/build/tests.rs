//! The Dockerfile parser, variable substitution, `.dockerignore` matching and EXPOSE.

use std::collections::HashMap;

use super::dockerfile::{Args, check, parse};
use super::ignore::Ignore;
use super::step::expose;
use super::substitute::{expand, words};

fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn ex(text: &str, v: &HashMap<String, String>) -> String {
    expand(text, '\\', &|n| v.get(n).cloned()).unwrap()
}

#[test]
fn continuations_comments_and_forms() {
    let df = parse(
        "# syntax=docker/dockerfile:1\n\
         FROM debian:bookworm\n\
         \n\
         # a comment\n\
         RUN apt-get update && \\\n\
         # dropped inside a continuation\n\
         \n\
             apt-get install -y nginx\n\
         CMD [\"nginx\", \"-g\", \"daemon off;\"]\n\
         copy --chown=www-data:www-data conf.d /etc/nginx/conf.d\n\
         ENTRYPOINT [not json\n",
    )
    .unwrap();
    let i = &df.instructions;
    assert_eq!(i.len(), 5);
    assert_eq!((i[0].line, i[0].keyword.as_str()), (2, "FROM"));
    assert_eq!(i[1].line, 5);
    assert_eq!(
        i[1].args,
        Args::Shell("apt-get update && apt-get install -y nginx".into())
    );
    assert_eq!(
        i[2].args,
        Args::Exec(vec!["nginx".into(), "-g".into(), "daemon off;".into()])
    );
    assert_eq!(i[3].keyword, "COPY");
    assert_eq!(i[3].flag("chown"), Some("www-data:www-data"));
    assert_eq!(i[3].args, Args::Shell("conf.d /etc/nginx/conf.d".into()));
    assert_eq!(i[4].args, Args::Shell("[not json".into()), "not JSON: shell form");
    check(&df).unwrap();
}

#[test]
fn the_escape_directive_changes_the_continuation_character() {
    let df = parse("# escape=`\nFROM scratch\nRUN dir c:\\ `\n  && echo hi\n").unwrap();
    assert_eq!(df.escape, '`');
    assert_eq!(df.instructions[1].args, Args::Shell("dir c:\\   && echo hi".into()));
    // A directive after the first instruction is a comment.
    let df = parse("FROM scratch\n# escape=`\nRUN a \\\n b\n").unwrap();
    assert_eq!(df.escape, '\\');
    assert_eq!(df.instructions[1].args, Args::Shell("a  b".into()));
    assert!(parse("# escape=x\nFROM scratch\n").is_err());
}

#[test]
fn unsupported_instructions_and_flags_are_refused_naming_the_line() {
    for (text, line, what) in [
        ("FROM a\nHEALTHCHECK CMD true\n", 2, "HEALTHCHECK is not supported"),
        ("FROM a\nRUN x\nONBUILD RUN y\n", 3, "ONBUILD is not supported"),
        ("FROM a\nFROBNICATE\n", 2, "unknown instruction: FROBNICATE"),
        ("FROM a AS build\n", 1, "multi-stage"),
        ("FROM a\nFROM b\n", 2, "multi-stage"),
        ("FROM a\nCOPY --from=build /x /y\n", 2, "--from is not supported"),
        ("FROM a\nCOPY --link x /y\n", 2, "does not support the flag --link"),
        ("RUN x\n", 1, "before FROM"),
    ] {
        let err = check(&parse(text).unwrap()).unwrap_err();
        assert!(
            err.message.starts_with(&format!("Dockerfile:{line}: ")),
            "{text}: {}",
            err.message
        );
        assert!(err.message.contains(what), "{text}: {}", err.message);
        assert_eq!(err.code, 125);
    }
    assert!(check(&parse("ARG X\n").unwrap()).is_err(), "no FROM");
}

#[test]
fn variables_expand_as_docker_does() {
    let v = vars(&[("NAME", "nginx"), ("EMPTY", ""), ("DIR", "/srv/www")]);
    assert_eq!(ex("$NAME", &v), "nginx");
    assert_eq!(ex("${NAME}-conf", &v), "nginx-conf");
    assert_eq!(ex("$NAMEx", &v), "");
    assert_eq!(ex("${MISSING:-default}", &v), "default");
    assert_eq!(ex("${EMPTY:-default}", &v), "default");
    assert_eq!(ex("${EMPTY-default}", &v), "");
    assert_eq!(ex("${MISSING-x}", &v), "x");
    assert_eq!(ex("${NAME:+set}", &v), "set");
    assert_eq!(ex("${MISSING:+set}", &v), "");
    assert_eq!(ex("${MISSING:-$DIR/html}", &v), "/srv/www/html");
    assert_eq!(ex("'$NAME'", &v), "$NAME", "single quotes keep it literal");
    assert_eq!(ex("\"$NAME here\"", &v), "nginx here");
    assert_eq!(ex("\\$NAME", &v), "$NAME", "escaped");
    assert_eq!(ex("cost: $", &v), "cost: $");
    assert!(expand("${NAME", '\\', &|_| None).is_err());
    assert!(
        expand("${MISSING:?must be set}", '\\', &|_| None)
            .unwrap_err()
            .0
            .contains("must be set")
    );
    let w = words("a \"b c\" $NAME '' $MISSING d\\ e", '\\', &|n| v.get(n).cloned()).unwrap();
    assert_eq!(w, ["a", "b c", "nginx", "", "d e"]);
    let w = words("A=\"hello world\" B=${DIR}", '\\', &|n| v.get(n).cloned()).unwrap();
    assert_eq!(w, ["A=hello world", "B=/srv/www"]);
}

#[test]
fn dockerignore_follows_dockers_rules() {
    let ignore = Ignore::parse(
        "# comment\n\
         \n\
         *.log\n\
         /secrets\n\
         **/*.tmp\n\
         build/\n\
         docs/**\n\
         !docs/README.md\n\
         temp?\n\
         [a-c].txt\n",
    );
    for (path, excluded) in [
        ("app.log", true),
        ("sub/app.log", false), // `*` stays within one component
        ("secrets", true),
        ("secrets/key.pem", true), // below an excluded directory
        ("a/b/c.tmp", true),
        ("x.tmp", true), // `**` matches no directory too
        ("build/out.o", true),
        ("docs/guide.md", true),
        ("docs/README.md", false), // an exception, later, wins
        ("temp1", true),
        ("temp12", false),
        ("b.txt", true),
        ("d.txt", false),
        ("Dockerfile", false),
        ("src/main.rs", false),
    ] {
        assert_eq!(ignore.excludes(path), excluded, "{path}");
    }
    let last_wins = Ignore::parse("!keep.txt\n*.txt\n");
    assert!(last_wins.excludes("keep.txt"));
    assert!(!Ignore::parse("").excludes("anything"));
    assert!(Ignore::parse("./a//b/../c\n").excludes("a/c"));
}

#[test]
fn expose_takes_ports_ranges_and_protocols() {
    assert_eq!(expose("80").unwrap(), ["80/tcp"]);
    assert_eq!(expose("53/udp").unwrap(), ["53/udp"]);
    assert_eq!(expose("8000-8002").unwrap(), ["8000/tcp", "8001/tcp", "8002/tcp"]);
    for bad in ["0", "x", "80/icmp", "9-1", "70000"] {
        assert!(expose(bad).is_err(), "{bad}");
    }
}

#[test]
fn context_paths_never_climb_out() {
    use super::context::clean;
    assert_eq!(clean("./a/b/../c").as_deref(), Some("a/c"));
    assert_eq!(clean("/conf.d").as_deref(), Some("conf.d"));
    assert_eq!(clean(".").as_deref(), Some(""));
    assert_eq!(clean("../outside"), None);
    assert_eq!(clean("a/../../outside"), None);
}
