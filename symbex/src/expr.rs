//! Bit-vector expressions, folded as they are built.
//!
//! Every value the engine computes is an [`Expr`]: a bit-vector of 1 to 128 bits (LLVM's
//! `i1` is a 1-bit vector; vectors of lanes are one flat bit-vector, lane 0 in the low bits,
//! as in memory). Constructors fold constants and a small set of identities, so concrete
//! computations never reach the solver and loaded bytes that are put back together become
//! the value that was stored. Folding follows SMT-LIB semantics exactly (division by zero
//! included); `tests/main.rs` checks it against Z3 on random inputs.
//!
//! The packet is the one array: [`Arr`] is a base array of bytes with stores on top.

use std::fmt;
use std::rc::Rc;

/// A symbolic variable's identity (an index into the engine's variable table).
pub type VarId = u32;

/// Binary operators (both operands and the result share one width).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BinOp {
    /// Wrapping addition.
    Add,
    /// Wrapping subtraction.
    Sub,
    /// Wrapping multiplication.
    Mul,
    /// Unsigned division (x / 0 = all ones).
    UDiv,
    /// Signed division, SMT-LIB `bvsdiv`.
    SDiv,
    /// Unsigned remainder (x % 0 = x).
    URem,
    /// Signed remainder, SMT-LIB `bvsrem`.
    SRem,
    /// Bitwise and.
    And,
    /// Bitwise or.
    Or,
    /// Bitwise exclusive or.
    Xor,
    /// Shift left (shift >= width gives 0).
    Shl,
    /// Logical shift right.
    LShr,
    /// Arithmetic shift right.
    AShr,
}

/// Comparisons (result width 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CmpOp {
    /// Equal.
    Eq,
    /// Unsigned less than.
    Ult,
    /// Unsigned less or equal.
    Ule,
    /// Signed less than.
    Slt,
    /// Signed less or equal.
    Sle,
}

/// The shape of an expression.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Node {
    /// A constant (only the low `width` bits are ever set).
    Const(u128),
    /// A symbolic variable.
    Var(VarId),
    /// One byte of an array at an index (width 8).
    Select(Arr, Expr),
    /// Bitwise not.
    Not(Expr),
    /// A binary operation.
    Bin(BinOp, Expr, Expr),
    /// A comparison.
    Cmp(CmpOp, Expr, Expr),
    /// If-then-else on a 1-bit condition.
    Ite(Expr, Expr, Expr),
    /// Zero extension to the node's width.
    ZExt(Expr),
    /// Sign extension to the node's width.
    SExt(Expr),
    /// Bits `lo ..= lo + width - 1` of the operand.
    Extract(u32, Expr),
    /// High part, low part.
    Concat(Expr, Expr),
}

#[derive(Debug)]
struct Inner {
    width: u32,
    node: Node,
    /// Hash of the structure, computed once from the children's (O(1) per node, so hashing
    /// stays linear on expressions that share subterms).
    hash: u64,
}

/// A bit-vector expression; cheap to clone, compared structurally.
#[derive(Clone)]
pub struct Expr(Rc<Inner>);

impl PartialEq for Expr {
    fn eq(&self, other: &Expr) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
            || (self.0.hash == other.0.hash && self.0.width == other.0.width && self.0.node == other.0.node)
    }
}

impl Eq for Expr {}

impl std::hash::Hash for Expr {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.0.hash);
    }
}

/// A byte array (the packet): a base variable and the stores made on it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ArrNode {
    /// The array at the start of the call, named by a variable id.
    Base(VarId),
    /// `array[index] = value` (index 64 bits, value 8 bits).
    Store(Arr, Expr, Expr),
}

/// A byte array expression.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Arr(pub Rc<ArrNode>);

impl Arr {
    /// The base array `id`.
    pub fn base(id: VarId) -> Arr {
        Arr(Rc::new(ArrNode::Base(id)))
    }
    /// This array with `value` at `index`.
    pub fn store(&self, index: Expr, value: Expr) -> Arr {
        debug_assert_eq!(index.width(), 64);
        debug_assert_eq!(value.width(), 8);
        Arr(Rc::new(ArrNode::Store(self.clone(), index, value)))
    }
    /// The byte at `index`, looking through stores at constant indices.
    pub fn select(&self, index: Expr) -> Expr {
        let mut a = self.clone();
        loop {
            let next = match &*a.0 {
                ArrNode::Store(inner, i, v) => {
                    if *i == index {
                        return v.clone();
                    }
                    match (i.as_const(), index.as_const()) {
                        (Some(x), Some(y)) if x != y => inner.clone(),
                        _ => break,
                    }
                }
                ArrNode::Base(_) => break,
            };
            a = next;
        }
        Expr::make(8, Node::Select(a, index))
    }
}

/// The mask of the low `w` bits.
pub fn mask(w: u32) -> u128 {
    if w >= 128 {
        u128::MAX
    } else {
        (1u128 << w) - 1
    }
}

fn sign_extend(v: u128, w: u32) -> i128 {
    if w >= 128 {
        v as i128
    } else if v >> (w - 1) & 1 == 1 {
        (v | !mask(w)) as i128
    } else {
        v as i128
    }
}

/// Evaluates `op` on constants of width `w`, SMT-LIB semantics.
pub fn eval_bin(op: BinOp, w: u32, a: u128, b: u128) -> u128 {
    let m = mask(w);
    let r = match op {
        BinOp::Add => a.wrapping_add(b),
        BinOp::Sub => a.wrapping_sub(b),
        BinOp::Mul => a.wrapping_mul(b),
        BinOp::UDiv => {
            if b == 0 {
                m
            } else {
                a / b
            }
        }
        BinOp::URem => {
            if b == 0 {
                a
            } else {
                a % b
            }
        }
        BinOp::SDiv => {
            let (x, y) = (sign_extend(a, w), sign_extend(b, w));
            if y == 0 {
                if x < 0 {
                    1
                } else {
                    m
                }
            } else {
                x.wrapping_div(y) as u128
            }
        }
        BinOp::SRem => {
            let (x, y) = (sign_extend(a, w), sign_extend(b, w));
            if y == 0 {
                a
            } else {
                x.wrapping_rem(y) as u128
            }
        }
        BinOp::And => a & b,
        BinOp::Or => a | b,
        BinOp::Xor => a ^ b,
        BinOp::Shl => {
            if b >= w as u128 {
                0
            } else {
                a << b
            }
        }
        BinOp::LShr => {
            if b >= w as u128 {
                0
            } else {
                a >> b
            }
        }
        BinOp::AShr => {
            let x = sign_extend(a, w);
            if b >= w as u128 {
                if x < 0 {
                    m
                } else {
                    0
                }
            } else {
                (x >> b) as u128
            }
        }
    };
    r & m
}

/// Evaluates a comparison on constants of width `w`.
pub fn eval_cmp(op: CmpOp, w: u32, a: u128, b: u128) -> bool {
    match op {
        CmpOp::Eq => a == b,
        CmpOp::Ult => a < b,
        CmpOp::Ule => a <= b,
        CmpOp::Slt => sign_extend(a, w) < sign_extend(b, w),
        CmpOp::Sle => sign_extend(a, w) <= sign_extend(b, w),
    }
}

impl Expr {
    fn make(width: u32, node: Node) -> Expr {
        use std::hash::{Hash, Hasher};
        debug_assert!((1..=128).contains(&width));
        let mut h = std::collections::hash_map::DefaultHasher::new();
        width.hash(&mut h);
        node.hash(&mut h);
        Expr(Rc::new(Inner { width, node, hash: h.finish() }))
    }

    /// The constant `v` (truncated) of width `w`.
    pub fn constant(w: u32, v: u128) -> Expr {
        Expr::make(w, Node::Const(v & mask(w)))
    }
    /// The 1-bit constant.
    pub fn bool(b: bool) -> Expr {
        Expr::constant(1, b as u128)
    }
    /// Variable `id` of width `w`.
    pub fn var(w: u32, id: VarId) -> Expr {
        Expr::make(w, Node::Var(id))
    }
    /// Width in bits.
    pub fn width(&self) -> u32 {
        self.0.width
    }
    /// The shape.
    pub fn node(&self) -> &Node {
        &self.0.node
    }
    /// The value if constant.
    pub fn as_const(&self) -> Option<u128> {
        match self.0.node {
            Node::Const(v) => Some(v),
            _ => None,
        }
    }
    /// Whether this is the constant `v`.
    pub fn is(&self, v: u128) -> bool {
        self.as_const() == Some(v & mask(self.width()))
    }
    /// An identity for the node, stable while the expression lives (for caches).
    pub fn id(&self) -> usize {
        Rc::as_ptr(&self.0) as usize
    }

    /// Bitwise not.
    pub fn not(&self) -> Expr {
        let w = self.width();
        if let Some(v) = self.as_const() {
            return Expr::constant(w, !v);
        }
        if let Node::Not(x) = self.node() {
            return x.clone();
        }
        // not (a == b) stays a compare negation: keep it as not.
        Expr::make(w, Node::Not(self.clone()))
    }

    /// A binary operation, folded.
    pub fn bin(op: BinOp, a: &Expr, b: &Expr) -> Expr {
        let w = a.width();
        assert_eq!(w, b.width(), "{op:?} on widths {} and {}", a.width(), b.width());
        if let (Some(x), Some(y)) = (a.as_const(), b.as_const()) {
            return Expr::constant(w, eval_bin(op, w, x, y));
        }
        use BinOp::*;
        // Constants to the right of commutative operators.
        let (a, b) = if matches!(op, Add | Mul | And | Or | Xor) && a.as_const().is_some() {
            (b, a)
        } else {
            (a, b)
        };
        let m = mask(w);
        if let Some(c) = b.as_const() {
            match op {
                Add | Sub | Or | Xor | Shl | LShr | AShr if c == 0 => return a.clone(),
                Mul | UDiv | SDiv if c == 1 => return a.clone(),
                Mul | And if c == 0 => return Expr::constant(w, 0),
                And if c == m => return a.clone(),
                Or if c == m => return Expr::constant(w, m),
                URem if c == 1 => return Expr::constant(w, 0),
                Sub => return Expr::bin(Add, a, &Expr::constant(w, c.wrapping_neg())),
                Add => {
                    // (x + c1) + c2 -> x + (c1 + c2): pointer arithmetic stays base + offset.
                    if let Node::Bin(Add, x, c1) = a.node() {
                        if let Some(c1) = c1.as_const() {
                            return Expr::bin(Add, x, &Expr::constant(w, c1.wrapping_add(c)));
                        }
                    }
                }
                And => {
                    // and of a zero-extended value with a mask covering it.
                    if let Node::ZExt(x) = a.node() {
                        if c & mask(x.width()) == mask(x.width()) {
                            return a.clone();
                        }
                    }
                }
                _ => {}
            }
        }
        if op == Add && b.as_const().is_none() {
            // (x + c) + y -> (x + y) + c, and x + (y + c) likewise: the constant of an address
            // stays on top, where it names the region (base + header length + selected field
            // offset is still base + something).
            for (l, r) in [(a, b), (b, a)] {
                if let Node::Bin(Add, x, c) = l.node() {
                    if c.as_const().is_some() {
                        return Expr::bin(Add, &Expr::bin(Add, x, r), c);
                    }
                }
            }
        }
        if op == Or {
            // (zext(x) << k) | zext(y), y of k bits: x and y side by side (how C builds a
            // big-endian field from bytes).
            for (l, r) in [(a, b), (b, a)] {
                if let (Node::Bin(Shl, hx, k), Node::ZExt(y)) = (l.node(), r.node()) {
                    if let (Node::ZExt(x), Some(k)) = (hx.node(), k.as_const()) {
                        if k == y.width() as u128 && x.width() + y.width() <= w {
                            return Expr::concat(x, y).zext(w);
                        }
                    }
                }
            }
        }
        if a == b {
            match op {
                Sub | Xor => return Expr::constant(w, 0),
                And | Or => return a.clone(),
                _ => {}
            }
        }
        // (x + c) - x and friends are left to the solver.
        Expr::make(w, Node::Bin(op, a.clone(), b.clone()))
    }

    /// A comparison, folded; width 1.
    pub fn cmp(op: CmpOp, a: &Expr, b: &Expr) -> Expr {
        let w = a.width();
        assert_eq!(w, b.width(), "{op:?} on widths {} and {}", a.width(), b.width());
        if let (Some(x), Some(y)) = (a.as_const(), b.as_const()) {
            return Expr::bool(eval_cmp(op, w, x, y));
        }
        if a == b {
            return Expr::bool(matches!(op, CmpOp::Eq | CmpOp::Ule | CmpOp::Sle));
        }
        if op == CmpOp::Ult && b.is(0) {
            return Expr::bool(false);
        }
        if op == CmpOp::Ule && a.is(0) {
            return Expr::bool(true);
        }
        if w == 1 && op == CmpOp::Eq {
            if b.is(1) {
                return a.clone();
            }
            if b.is(0) {
                return a.not();
            }
        }
        // zext(x) == c with c wider than x's range is false; compare in x's width when it fits.
        if op == CmpOp::Eq {
            if let (Node::ZExt(x), Some(c)) = (a.node(), b.as_const()) {
                if c > mask(x.width()) {
                    return Expr::bool(false);
                }
                return Expr::cmp(CmpOp::Eq, x, &Expr::constant(x.width(), c));
            }
        }
        Expr::make(1, Node::Cmp(op, a.clone(), b.clone()))
    }

    /// `a != b`.
    pub fn ne(a: &Expr, b: &Expr) -> Expr {
        Expr::cmp(CmpOp::Eq, a, b).not()
    }

    /// Logical and of 1-bit values.
    pub fn and(a: &Expr, b: &Expr) -> Expr {
        Expr::bin(BinOp::And, a, b)
    }

    /// If-then-else on a 1-bit condition.
    pub fn ite(c: &Expr, t: &Expr, e: &Expr) -> Expr {
        assert_eq!(c.width(), 1);
        assert_eq!(t.width(), e.width());
        if let Some(v) = c.as_const() {
            return if v == 1 { t.clone() } else { e.clone() };
        }
        if t == e {
            return t.clone();
        }
        if t.width() == 1 && t.is(1) && e.is(0) {
            return c.clone();
        }
        if t.width() == 1 && t.is(0) && e.is(1) {
            return c.not();
        }
        Expr::make(t.width(), Node::Ite(c.clone(), t.clone(), e.clone()))
    }

    /// Zero extension to `w` bits (or the same width).
    pub fn zext(&self, w: u32) -> Expr {
        let from = self.width();
        assert!(w >= from);
        if w == from {
            return self.clone();
        }
        if let Some(v) = self.as_const() {
            return Expr::constant(w, v);
        }
        if let Node::ZExt(x) = self.node() {
            return x.zext(w);
        }
        Expr::make(w, Node::ZExt(self.clone()))
    }

    /// Sign extension to `w` bits (or the same width).
    pub fn sext(&self, w: u32) -> Expr {
        let from = self.width();
        assert!(w >= from);
        if w == from {
            return self.clone();
        }
        if let Some(v) = self.as_const() {
            return Expr::constant(w, sign_extend(v, from) as u128);
        }
        Expr::make(w, Node::SExt(self.clone()))
    }

    /// Bits `lo .. lo + w` of this expression.
    pub fn extract(&self, lo: u32, w: u32) -> Expr {
        let from = self.width();
        assert!(lo + w <= from, "extract {lo}+{w} of {from} bits");
        if lo == 0 && w == from {
            return self.clone();
        }
        if let Some(v) = self.as_const() {
            return Expr::constant(w, v >> lo);
        }
        match self.node() {
            Node::Extract(lo2, x) => return x.extract(lo + lo2, w),
            Node::Concat(hi, low) => {
                let lw = low.width();
                if lo + w <= lw {
                    return low.extract(lo, w);
                }
                if lo >= lw {
                    return hi.extract(lo - lw, w);
                }
            }
            Node::ZExt(x) => {
                let xw = x.width();
                if lo + w <= xw {
                    return x.extract(lo, w);
                }
                if lo >= xw {
                    return Expr::constant(w, 0);
                }
            }
            Node::SExt(x) => {
                if lo + w <= x.width() {
                    return x.extract(lo, w);
                }
            }
            Node::Bin(op @ (BinOp::And | BinOp::Or | BinOp::Xor), a, b) => {
                // Bitwise operators commute with extraction; useful on masks.
                if b.as_const().is_some() {
                    return Expr::bin(*op, &a.extract(lo, w), &b.extract(lo, w));
                }
            }
            Node::Bin(op @ (BinOp::Add | BinOp::Sub | BinOp::Mul), a, b) if lo == 0 => {
                // The low bits of +, -, * depend only on the operands' low bits.
                return Expr::bin(*op, &a.extract(0, w), &b.extract(0, w));
            }
            Node::Ite(c, t, e) => return Expr::ite(c, &t.extract(lo, w), &e.extract(lo, w)),
            _ => {}
        }
        Expr::make(w, Node::Extract(lo, self.clone()))
    }

    /// `hi` above `lo`.
    pub fn concat(hi: &Expr, lo: &Expr) -> Expr {
        let w = hi.width() + lo.width();
        assert!(w <= 128, "concat to {w} bits");
        if let (Some(h), Some(l)) = (hi.as_const(), lo.as_const()) {
            return Expr::constant(w, (h << lo.width()) | l);
        }
        // Adjacent pieces of one value join back.
        if let (Node::Extract(hlo, hx), Node::Extract(llo, lx)) = (hi.node(), lo.node()) {
            if hx == lx && *hlo == llo + lo.width() {
                return hx.extract(*llo, w);
            }
        }
        if let (Node::Extract(hlo, hx), Node::Concat(lhi, llo)) = (hi.node(), lo.node()) {
            // hi ++ (mid ++ low) where hi and mid are adjacent pieces.
            if let Node::Extract(mlo, mx) = lhi.node() {
                if hx == mx && *hlo == mlo + lhi.width() {
                    return Expr::concat(&hx.extract(*mlo, hi.width() + lhi.width()), llo);
                }
            }
        }
        if hi.is(0) {
            return lo.zext(w);
        }
        Expr::make(w, Node::Concat(hi.clone(), lo.clone()))
    }

    /// Truncation to `w` bits.
    pub fn trunc(&self, w: u32) -> Expr {
        self.extract(0, w)
    }

    /// Resizes to `w` bits: truncation or zero extension.
    pub fn resize(&self, w: u32) -> Expr {
        if w <= self.width() {
            self.trunc(w)
        } else {
            self.zext(w)
        }
    }

    /// Every variable the expression mentions, including array bases.
    pub fn vars(&self, out: &mut Vec<VarId>) {
        let mut stack = vec![self.clone()];
        let mut seen = std::collections::HashSet::new();
        while let Some(e) = stack.pop() {
            if !seen.insert(e.id()) {
                continue;
            }
            match e.node() {
                Node::Const(_) => {}
                Node::Var(v) => out.push(*v),
                Node::Select(a, i) => {
                    stack.push(i.clone());
                    let mut a = a.clone();
                    loop {
                        let next = match &*a.0 {
                            ArrNode::Base(v) => {
                                out.push(*v);
                                break;
                            }
                            ArrNode::Store(inner, i, v) => {
                                stack.push(i.clone());
                                stack.push(v.clone());
                                inner.clone()
                            }
                        };
                        a = next;
                    }
                }
                Node::Not(x) | Node::ZExt(x) | Node::SExt(x) | Node::Extract(_, x) => stack.push(x.clone()),
                Node::Bin(_, a, b) | Node::Cmp(_, a, b) | Node::Concat(a, b) => {
                    stack.push(a.clone());
                    stack.push(b.clone());
                }
                Node::Ite(c, t, f) => {
                    stack.push(c.clone());
                    stack.push(t.clone());
                    stack.push(f.clone());
                }
            }
        }
        out.sort_unstable();
        out.dedup();
    }

    /// Evaluates under an assignment of variables and array bytes; `None` if one is missing.
    pub fn eval(&self, var: &dyn Fn(VarId) -> Option<u128>, byte: &dyn Fn(VarId, u64) -> Option<u8>) -> Option<u128> {
        let mut memo = std::collections::HashMap::new();
        self.eval_memo(var, byte, &mut memo)
    }

    fn eval_memo(
        &self,
        var: &dyn Fn(VarId) -> Option<u128>,
        byte: &dyn Fn(VarId, u64) -> Option<u8>,
        memo: &mut std::collections::HashMap<usize, u128>,
    ) -> Option<u128> {
        if let Some(v) = memo.get(&self.id()) {
            return Some(*v);
        }
        let w = self.width();
        let mut ev = |e: &Expr| e.eval_memo(var, byte, memo);
        let r = match self.node() {
            Node::Const(v) => *v,
            Node::Var(id) => var(*id)? & mask(w),
            Node::Select(a, i) => {
                let idx = ev(i)? as u64;
                let mut a = a.clone();
                loop {
                    let next = match &*a.0 {
                        ArrNode::Base(id) => break u128::from(byte(*id, idx)?),
                        ArrNode::Store(inner, si, sv) => {
                            if ev(si)? as u64 == idx {
                                break ev(sv)?;
                            }
                            inner.clone()
                        }
                    };
                    a = next;
                }
            }
            Node::Not(x) => !ev(x)? & mask(w),
            Node::Bin(op, a, b) => {
                let x = ev(a)?;
                eval_bin(*op, w, x, ev(b)?)
            }
            Node::Cmp(op, a, b) => {
                let x = ev(a)?;
                eval_cmp(*op, a.width(), x, ev(b)?) as u128
            }
            Node::Ite(c, t, e) => {
                if ev(c)? == 1 {
                    ev(t)?
                } else {
                    ev(e)?
                }
            }
            Node::ZExt(x) => ev(x)?,
            Node::SExt(x) => sign_extend(ev(x)?, x.width()) as u128 & mask(w),
            Node::Extract(lo, x) => (ev(x)? >> lo) & mask(w),
            Node::Concat(h, l) => {
                let hv = ev(h)?;
                (hv << l.width()) | ev(l)?
            }
        };
        memo.insert(self.id(), r);
        Some(r)
    }
}

impl fmt::Debug for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.node() {
            Node::Const(v) => write!(f, "{v:#x}:{}", self.width()),
            Node::Var(id) => write!(f, "v{id}:{}", self.width()),
            Node::Select(_, i) => write!(f, "pkt[{i:?}]"),
            Node::Not(x) => write!(f, "~{x:?}"),
            Node::Bin(op, a, b) => write!(f, "({a:?} {op:?} {b:?})"),
            Node::Cmp(op, a, b) => write!(f, "({a:?} {op:?} {b:?})"),
            Node::Ite(c, t, e) => write!(f, "({c:?} ? {t:?} : {e:?})"),
            Node::ZExt(x) => write!(f, "zext{}({x:?})", self.width()),
            Node::SExt(x) => write!(f, "sext{}({x:?})", self.width()),
            Node::Extract(lo, x) => write!(f, "{x:?}[{lo}+{}]", self.width()),
            Node::Concat(h, l) => write!(f, "({h:?} ++ {l:?})"),
        }
    }
}
