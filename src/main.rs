fn main() {
    println!("i2psocks");
}
