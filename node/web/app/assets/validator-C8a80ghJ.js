import{bn as i}from"./index-HD0MZ8Pe.js";const e=o=>["",...i].includes(o);export{e as i};
