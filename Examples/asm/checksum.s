# The RFC 1071 Internet checksum of the memory given to the program (r1 = address, r2 = length,
# an even number of bytes), as a 16-bit value in host order. Run it over an IPv4 header whose
# checksum field is zero to compute the checksum that belongs there:
#
#   swift run swiftbpf run Examples/asm/checksum.s --mem-file Examples/asm/ipv4-header.bin
#
mov %r0, 0              # running sum
mov %r3, 0              # offset into the header
loop:
jge %r3, %r2, fold
mov %r4, %r1
add %r4, %r3
ldxh %r5, [%r4]
be16 %r5                # network to host byte order
add %r0, %r5
add %r3, 2
ja loop
fold:                   # fold the carries back into 16 bits, twice
mov %r4, %r0
rsh %r4, 16
and %r0, 0xffff
add %r0, %r4
mov %r4, %r0
rsh %r4, 16
add %r0, %r4
xor %r0, 0xffff         # one's complement
and %r0, 0xffff
exit
