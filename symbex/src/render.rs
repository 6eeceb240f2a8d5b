//! Readable conditions: expressions over the packet, its length, port and time, printed the
//! way an operator reads them (`eth.type == 0x800 && len >= 34`).
//!
//! Packet bytes are named by their offset in an untagged Ethernet/IPv4 frame without IP
//! options (`ip.proto` is byte 23); a byte range that is no such field prints as
//! `pkt[a..b]` (big-endian) or `le(pkt[a..b])`.

use crate::engine::{Inputs, VarInfo, VarKind};
use crate::expr::{ArrNode, BinOp, CmpOp, Expr, Node};

const FIELDS: &[(u64, u64, &str)] = &[
    (0, 6, "eth.dst"),
    (6, 6, "eth.src"),
    (12, 2, "eth.type"),
    (14, 1, "ip.ver_ihl"),
    (15, 1, "ip.tos"),
    (16, 2, "ip.len"),
    (18, 2, "ip.id"),
    (20, 2, "ip.frag"),
    (22, 1, "ip.ttl"),
    (23, 1, "ip.proto"),
    (24, 2, "ip.csum"),
    (26, 4, "ip.src"),
    (30, 4, "ip.dst"),
    (34, 2, "l4.sport"),
    (36, 2, "l4.dport"),
];

/// Whether `e` mentions only the input: packet bytes (as received), length, port, time.
pub fn input_only(e: &Expr, vars: &[VarInfo]) -> bool {
    let mut v = Vec::new();
    e.vars(&mut v);
    !v.is_empty()
        && v.iter().all(|id| matches!(vars[*id as usize].kind, VarKind::Packet | VarKind::Len | VarKind::Port | VarKind::Time))
}

/// The packet byte index if `e` is one byte of the original packet at a constant offset.
fn byte_at(e: &Expr, inputs: &Inputs) -> Option<u64> {
    if let Node::Select(a, i) = e.node() {
        if let (ArrNode::Base(id), Some(k)) = (&*a.0, i.as_const()) {
            if *id == inputs.packet {
                return Some(k as u64);
            }
        }
    }
    None
}

/// Bytes of a concatenation, most significant first, if all are packet bytes.
fn packet_bytes(e: &Expr, inputs: &Inputs) -> Option<Vec<u64>> {
    if let Some(k) = byte_at(e, inputs) {
        return Some(vec![k]);
    }
    if let Node::Concat(h, l) = e.node() {
        let mut v = packet_bytes(h, inputs)?;
        v.extend(packet_bytes(l, inputs)?);
        return Some(v);
    }
    None
}

fn field(bytes: &[u64]) -> String {
    let n = bytes.len() as u64;
    let first = bytes[0];
    if bytes.windows(2).all(|w| w[1] == w[0] + 1) {
        if let Some((_, _, name)) = FIELDS.iter().find(|(o, l, _)| *o == first && *l == n) {
            return name.to_string();
        }
        return if n == 1 { format!("pkt[{first}]") } else { format!("pkt[{first}..{}]", first + n) };
    }
    if bytes.windows(2).all(|w| w[0] == w[1] + 1) {
        let lo = *bytes.last().expect("bytes");
        return format!("le(pkt[{lo}..{}])", lo + n);
    }
    format!("pkt{bytes:?}")
}

/// The packet bytes a bitwise-or of packet bytes reads, in offset order, if `e` is one
/// (`(pkt[7] | pkt[8]) | pkt[6]`: every byte zero exactly when the or is).
fn or_of_bytes(e: &Expr, inputs: &Inputs, out: &mut Vec<u64>) -> bool {
    if let Some(k) = byte_at(e, inputs) {
        out.push(k);
        return true;
    }
    match e.node() {
        Node::Bin(BinOp::Or, a, b) => or_of_bytes(a, inputs, out) && or_of_bytes(b, inputs, out),
        Node::ZExt(x) => or_of_bytes(x, inputs, out),
        _ => false,
    }
}

/// `FIELD == 0` / `FIELD != 0` when `a == b` tests that several packet bytes are all zero.
fn all_zero(a: &Expr, b: &Expr, inputs: &Inputs, equal: bool) -> Option<String> {
    let (x, zero) = if b.is(0) { (a, b) } else { (b, a) };
    if !zero.is(0) {
        return None;
    }
    let mut bytes = Vec::new();
    if !or_of_bytes(x, inputs, &mut bytes) || bytes.len() < 2 {
        return None;
    }
    bytes.sort_unstable();
    bytes.dedup();
    Some(format!("{} {} 0", field(&bytes), if equal { "==" } else { "!=" }))
}

fn num(v: u128) -> String {
    if v < 4096 {
        v.to_string()
    } else {
        format!("{v:#x}")
    }
}

/// One side of a comparison: constants compared with a multi-byte packet field print in hex.
fn render_side(e: &Expr, other: &Expr, vars: &[VarInfo], inputs: &Inputs) -> String {
    let field = |x: &Expr| {
        let x = match x.node() {
            Node::ZExt(y) => y.clone(),
            _ => x.clone(),
        };
        packet_bytes(&x, inputs).is_some_and(|b| b.len() > 1)
    };
    match e.as_const() {
        Some(v) if field(other) => format!("{v:#x}"),
        _ => render(e, vars, inputs),
    }
}

/// `e` as text.
pub fn render(e: &Expr, vars: &[VarInfo], inputs: &Inputs) -> String {
    if let Some(b) = packet_bytes(e, inputs) {
        return field(&b);
    }
    if let Some((or, parts)) = junction(e) {
        let mut flat = Vec::new();
        for p in &parts {
            flatten(p, or, &mut flat);
        }
        let items: Vec<String> = flat.iter().map(|p| render(p, vars, inputs)).collect();
        return format!("({})", items.join(if or { " || " } else { " && " }));
    }
    match e.node() {
        Node::Const(v) => num(*v),
        Node::Var(id) => match &vars[*id as usize].kind {
            VarKind::Len => "len".into(),
            VarKind::Port => "port".into(),
            VarKind::Time => "time".into(),
            VarKind::State(s) => format!("state({s})"),
            VarKind::Havoc(s) => format!("after_loop({s})"),
            VarKind::Packet => "pkt".into(),
            VarKind::Undef => "undef".into(),
        },
        Node::Select(_, i) => format!("pkt[{}]", render(i, vars, inputs)),
        Node::Not(x) => {
            if let Node::Cmp(CmpOp::Eq, a, b) = x.node() {
                if let Some(r) = all_zero(a, b, inputs, false) {
                    return r;
                }
            }
            if let Node::Cmp(op, a, b) = x.node() {
                if a.as_const().is_some() && b.as_const().is_none() && matches!(op, CmpOp::Ult | CmpOp::Ule | CmpOp::Eq) {
                    // !(k < x) reads as x <= k.
                    let (x, k) = (render_side(b, a, vars, inputs), render_side(a, b, vars, inputs));
                    return match op {
                        CmpOp::Ult => format!("{x} <= {k}"),
                        CmpOp::Ule => format!("{x} < {k}"),
                        _ => format!("{x} != {k}"),
                    };
                }
                let (a, b) = (render_side(a, b, vars, inputs), render_side(b, a, vars, inputs));
                return match op {
                    CmpOp::Eq => format!("{a} != {b}"),
                    CmpOp::Ult => format!("{a} >= {b}"),
                    CmpOp::Ule => format!("{a} > {b}"),
                    CmpOp::Slt => format!("{a} >=s {b}"),
                    CmpOp::Sle => format!("{a} >s {b}"),
                };
            }
            if e.width() == 1 {
                format!("!({})", render(x, vars, inputs))
            } else {
                format!("~{}", render(x, vars, inputs))
            }
        }
        Node::Cmp(CmpOp::Eq, a, b) if all_zero(a, b, inputs, true).is_some() => all_zero(a, b, inputs, true).expect("checked"),
        Node::Cmp(op, a, b) if a.as_const().is_some() && b.as_const().is_none() && matches!(op, CmpOp::Ult | CmpOp::Ule | CmpOp::Eq) => {
            // k < x reads as x > k.
            let (x, k) = (render_side(b, a, vars, inputs), render_side(a, b, vars, inputs));
            match op {
                CmpOp::Ult => format!("{x} > {k}"),
                CmpOp::Ule => format!("{x} >= {k}"),
                _ => format!("{x} == {k}"),
            }
        }
        Node::Cmp(op, a, b) => {
            let (a, b) = (render_side(a, b, vars, inputs), render_side(b, a, vars, inputs));
            let o = match op {
                CmpOp::Eq => "==",
                CmpOp::Ult => "<",
                CmpOp::Ule => "<=",
                CmpOp::Slt => "<s",
                CmpOp::Sle => "<=s",
            };
            format!("{a} {o} {b}")
        }
        Node::Bin(op, a, b) => {
            // x + 0xfff...f2 is x - 14.
            if *op == BinOp::Add && e.width() > 1 {
                if let Some(k) = b.as_const() {
                    if k >> (e.width() - 1) == 1 {
                        let neg = (crate::expr::mask(e.width()) - k) + 1;
                        return format!("({} - {})", render(a, vars, inputs), num(neg));
                    }
                }
            }
            let o = match op {
                BinOp::Add => "+",
                BinOp::Sub => "-",
                BinOp::Mul => "*",
                BinOp::UDiv => "/",
                BinOp::SDiv => "/s",
                BinOp::URem => "%",
                BinOp::SRem => "%s",
                BinOp::And => "&",
                BinOp::Or => "|",
                BinOp::Xor => "^",
                BinOp::Shl => "<<",
                BinOp::LShr => ">>",
                BinOp::AShr => ">>s",
            };
            format!("({} {o} {})", render(a, vars, inputs), render(b, vars, inputs))
        }
        Node::Ite(c, t, f) => {
            format!("({} ? {} : {})", render(c, vars, inputs), render(t, vars, inputs), render(f, vars, inputs))
        }
        Node::ZExt(x) => render(x, vars, inputs),
        Node::SExt(x) => format!("sext({})", render(x, vars, inputs)),
        Node::Extract(lo, x) => {
            let w = e.width();
            if *lo == 0 {
                format!("({} & {})", render(x, vars, inputs), num(crate::expr::mask(w)))
            } else {
                format!("(({} >> {lo}) & {})", render(x, vars, inputs), num(crate::expr::mask(w)))
            }
        }
        Node::Concat(h, l) => format!("({} ++ {})", render(h, vars, inputs), render(l, vars, inputs)),
    }
}

/// A 1-bit `a || b` or `a && b` (`true` for `||`), including the selects the optimiser
/// makes of them (`c ? 1 : f` is `c || f`, `c ? t : 0` is `c && t`) and negations of
/// either (`!(a || b)` is `!a && !b`).
fn junction(e: &Expr) -> Option<(bool, Vec<Expr>)> {
    if e.width() != 1 {
        return None;
    }
    match e.node() {
        Node::Not(x) => junction(x).map(|(or, parts)| (!or, parts.iter().map(|p| p.not()).collect())),
        Node::Bin(BinOp::Or, a, b) => Some((true, vec![a.clone(), b.clone()])),
        Node::Bin(BinOp::And, a, b) => Some((false, vec![a.clone(), b.clone()])),
        Node::Ite(c, t, f) => match (t.as_const(), f.as_const()) {
            (Some(1), _) => Some((true, vec![c.clone(), f.clone()])),
            (Some(_), _) => Some((false, vec![c.not(), f.clone()])),
            (_, Some(0)) => Some((false, vec![c.clone(), t.clone()])),
            (_, Some(_)) => Some((true, vec![c.not(), t.clone()])),
            _ => None,
        },
        _ => None,
    }
}

/// The operands of nested junctions of the same kind, in order.
fn flatten(e: &Expr, or: bool, out: &mut Vec<Expr>) {
    match junction(e) {
        Some((o, parts)) if o == or => {
            for p in &parts {
                flatten(p, or, out);
            }
        }
        _ => out.push(e.clone()),
    }
}
